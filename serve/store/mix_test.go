package store

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pathlens/pathlens/probe"
)

// labMixKinds is the lab mix of the storage benchmarks: the share of
// targets (in twentieths) of each kind, with the lab results
// (testdata/lab-*.json, from `pathlens lab`) that their runs copy and the
// failure they show in an outage.
var labMixKinds = []struct {
	name, ok, fail string
	share          int
}{
	{"http", "lab-http", "lab-http-500", 5},
	{"https", "lab-https", "lab-tls-stall", 5}, // HTTP_NO_H2 on every run
	{"h2", "lab-h2", "lab-tls-stall", 5},
	{"tcp", "lab-tcp", "lab-tcp-refused", 3},
	{"slow", "lab-slow", "lab-http-500", 2}, // HTTP_SERVER_SLOW on every run
}

// phaseMedianMS are the median phase durations of the mix's runs (a
// service some 25 ms away); the lab's own are loopback microseconds.
var phaseMedianMS = map[string]float64{
	probe.PhaseDNS: 2, probe.PhaseConnect: 25, probe.PhaseTLS: 50, probe.PhaseRequest: 0.2,
	probe.PhaseWait: 40, probe.PhaseTransfer: 1, probe.PhaseQuery: 2,
}

// mixTarget is one target of the mix.
type mixTarget struct {
	name       string
	ok, fail   *probe.Result // this target's own copies of the lab results
	scale      float64       // how far away the target is
	outageLeft int           // failing runs still to come
	extraLeft  int           // runs still to come with a passing finding
}

// labMix makes the runs of n targets.
type labMix struct {
	rng     *rand.Rand
	targets []*mixTarget
}

// loadLab reads testdata/name.json.
func loadLab(t testing.TB, name string) *probe.Result {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	r := new(probe.Result)
	if err := json.Unmarshal(b, r); err != nil {
		t.Fatal(err)
	}
	return r
}

// newLabMix makes a mix of n targets named t000000…
func newLabMix(t testing.TB, n int, seed uint64) *labMix {
	t.Helper()
	m := &labMix{rng: rand.New(rand.NewPCG(seed, 7))}
	labs := map[string][]byte{}
	clone := func(name string, i int) *probe.Result {
		if labs[name] == nil {
			labs[name] = mustJSON(t, loadLab(t, name))
		}
		// The target's own host name, in the URL, DNS and TLS blocks.
		js := strings.ReplaceAll(string(labs[name]), ".lab.test", fmt.Sprintf(".t%06d.example.test", i))
		js = strings.ReplaceAll(js, "127.0.0.1:", fmt.Sprintf("10.%d.%d.%d:", i>>16&255, i>>8&255, i&255))
		r := new(probe.Result)
		if err := json.Unmarshal([]byte(js), r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	for i := range n {
		k := labMixKinds[0]
		for slot, j := i%20, 0; j < len(labMixKinds); j++ {
			if slot < labMixKinds[j].share {
				k = labMixKinds[j]
				break
			}
			slot -= labMixKinds[j].share
		}
		m.targets = append(m.targets, &mixTarget{name: fmt.Sprintf("t%06d", i), ok: clone(k.ok, i), fail: clone(k.fail, i),
			scale: math.Exp(0.5 * m.rng.NormFloat64())})
	}
	return m
}

// run is target i's run started at at: mostly a success like its lab
// result with new timings; an outage (1 in 200 runs starts one, 1 to 5
// runs long) fails; 1 in 300 successful runs starts a passing finding (1
// to 3 runs).
func (m *labMix) run(i int, at time.Time) Record {
	tg := m.targets[i]
	rng := m.rng
	if tg.outageLeft == 0 && rng.IntN(200) == 0 {
		tg.outageLeft = 1 + rng.IntN(5)
	}
	tpl := tg.ok
	if tg.outageLeft > 0 {
		tg.outageLeft--
		tpl = tg.fail
	}
	r := *tpl
	r.StartedAt = at
	r.Phases = make([]probe.Phase, len(tpl.Phases))
	start := 0.0
	for j, p := range tpl.Phases {
		d := p.DurationMS
		if med, ok := phaseMedianMS[p.Name]; ok && !p.Incomplete {
			d = med * tg.scale * math.Exp(0.3*rng.NormFloat64())
			if p.Name == probe.PhaseWait && len(tpl.Findings) > 0 && tpl.Findings[0].ID == "HTTP_SERVER_SLOW" {
				d += 400
			}
		}
		start += float64(rng.IntN(50)) / 1e3 // the gap between phases
		r.Phases[j] = probe.Phase{Name: p.Name, StartMS: probe.MS(time.Duration(start * 1e6)),
			DurationMS: probe.MS(time.Duration(d * 1e6)), Incomplete: p.Incomplete}
		start += r.Phases[j].DurationMS
	}
	if tpl.Success {
		r.TotalMS = probe.MS(time.Duration((start + 0.05) * 1e6))
	}
	if r.Conn != nil {
		c := *r.Conn
		c.LocalAddr = fmt.Sprintf("10.0.0.1:%d", 32768+rng.IntN(28000))
		r.Conn = &c
	}
	if tpl.Success {
		if tg.extraLeft == 0 && rng.IntN(300) == 0 {
			tg.extraLeft = 1 + rng.IntN(3)
		}
		if tg.extraLeft > 0 {
			tg.extraLeft--
			r.Findings = append(append([]probe.Finding{}, r.Findings...), probe.Finding{ID: "DNS_SLOW", Severity: probe.SeverityWarning,
				Phase: probe.PhaseDNS, Summary: "name resolution took 312 ms", Evidence: map[string]any{"dns_ms": 312.0, "threshold_ms": 200.0},
				Advice: "look at the resolver"})
		}
	}
	return Record{Target: tg.name, Module: "lab", Result: &r}
}

// minute is one run of every target, started through the minute from at
// (target i at its own second).
func (m *labMix) minute(at time.Time) []Record {
	recs := make([]Record, len(m.targets))
	for i := range m.targets {
		recs[i] = m.run(i, at.Add(time.Duration(i%60)*time.Second+time.Duration(i)*time.Microsecond))
	}
	return recs
}
