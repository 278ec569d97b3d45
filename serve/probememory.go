package serve

import (
	"sync"
	"time"

	"github.com/pathlens/pathlens/probe"
)

// maxProbeMemories bounds the /probe targets whose TLS resumption verdict
// serve remembers.
const maxProbeMemories = 10000

// probeMemories gives each /probe module and target a ResumptionMemory,
// as scheduled targets have one: a Prometheus scraping /probe every 15 s
// gets the resumption check on the memory's cadence instead of a second
// TLS connection on every scrape, and the carried verdict keeps
// TLS_NO_RESUMPTION on the page. At most maxProbeMemories are kept; past
// that, an arbitrary one is forgotten (its target is checked again).
type probeMemories struct {
	mu sync.Mutex
	m  map[string]*probe.ResumptionMemory
}

// get returns the memory of target under module, kept while its cadence
// (every) stays the same.
func (p *probeMemories) get(module, target string, every time.Duration) *probe.ResumptionMemory {
	key := module + "\x00" + target
	p.mu.Lock()
	defer p.mu.Unlock()
	if m := p.m[key]; m != nil && m.Every == every {
		return m
	}
	if p.m == nil {
		p.m = map[string]*probe.ResumptionMemory{}
	}
	for k := range p.m {
		if len(p.m) < maxProbeMemories {
			break
		}
		delete(p.m, k)
	}
	m := &probe.ResumptionMemory{Every: every}
	p.m[key] = m
	return m
}
