package probe

import (
	"sync"
	"time"
)

// DefaultResumptionEvery is how often serve tests session resumption
// again on a target whose server and certificate have not changed.
const DefaultResumptionEvery = 10 * time.Minute

// ResumptionMemory carries the verdict of the resumption check between
// runs of one target, so that a scheduler probing it every few seconds
// does not open a second TLS connection on every run: that connection
// doubles the handshakes the probe costs, on both ends. The check runs
// on the first run, again once Every has passed since the last tested
// verdict, and whenever the server's address or its leaf certificate
// changes; in between, runs carry the last verdict (ResumptionCheck.Carried,
// with its age), so TLS_NO_RESUMPTION stays active. Set it on
// Options.Resumption; one memory serves one target. It is safe for
// concurrent use. `pathlens check` uses none: it tests every time.
type ResumptionMemory struct {
	// Every is how long a verdict is carried before the check runs again
	// (≤ 0: it runs on every probe).
	Every time.Duration

	mu   sync.Mutex
	addr string // server address of the last tested verdict
	leaf string // SHA-256 of its leaf certificate
	last ResumptionCheck
	at   time.Time // when it was tested; zero: never
	now  func() time.Time
}

func (m *ResumptionMemory) clock() time.Time {
	if m.now != nil {
		return m.now()
	}
	return time.Now()
}

// carried returns the verdict to carry for a run that reached addr with
// leaf, or nil when the check is due.
func (m *ResumptionMemory) carried(addr, leaf string) *ResumptionCheck {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.at.IsZero() || m.Every <= 0 || addr != m.addr || leaf != m.leaf {
		return nil
	}
	age := m.clock().Sub(m.at)
	if age >= m.Every || age < 0 {
		return nil
	}
	rc := m.last
	rc.Carried, rc.AgeS = true, age.Seconds()
	return &rc
}

// remember keeps a tested verdict; an untested one (no budget left, the
// second connection failed) is not a verdict, so the next run tries again.
func (m *ResumptionMemory) remember(addr, leaf string, rc *ResumptionCheck) {
	if !rc.Tested {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.addr, m.leaf, m.last, m.at = addr, leaf, *rc, m.clock()
}

// leafSHA256 is the fingerprint of the leaf the server sent ("" without one).
func (d *Dialer) leafSHA256() string {
	if d.Res.TLS == nil || len(d.Res.TLS.Chain) == 0 {
		return ""
	}
	return d.Res.TLS.Chain[0].SHA256
}

// ResumptionDue reports whether this probe should run the resumption
// check on addr: false when Options.SkipResumptionCheck is set, or when
// Options.Resumption carries a verdict for this server and certificate —
// that verdict is then set on Result.TLS.Resumption. Probers call it
// before the work the check needs (CheckResumption calls it too).
func (d *Dialer) ResumptionDue(addr string) bool {
	if d.Opts.SkipResumptionCheck {
		return false
	}
	m := d.Opts.Resumption
	if m == nil {
		return true
	}
	if rc := m.carried(addr, d.leafSHA256()); rc != nil {
		d.tlsInfo().Resumption = rc
		return false
	}
	return true
}
