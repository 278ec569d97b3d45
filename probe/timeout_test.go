package probe_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pathlens/pathlens/internal/probetest"
	"github.com/pathlens/pathlens/probe"
)

// deadlineCtx is a live context whose deadline is dl: it stands for the
// moment a phase's timer fired and the context's own timer had not yet.
type deadlineCtx struct {
	context.Context
	dl time.Time
}

func (c deadlineCtx) Deadline() (time.Time, bool) { return c.dl, true }

// TestTimeoutRule: a timeout is the budget's (class timeout, cause
// deadline) when the context is done by its deadline, or its deadline has
// passed or is at most TimeoutSlack away, whichever timer fired first; a
// timeout clearly before the deadline, or without one, is the phase's own.
func TestTimeoutRule(t *testing.T) {
	readTimeout := &net.OpError{Op: "read", Net: "udp", Err: os.ErrDeadlineExceeded}
	dnsTimeout := &net.DNSError{Err: "i/o timeout", Name: "x.test", IsTimeout: true}
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	now := time.Now()
	expired, cancelExpired := context.WithDeadline(context.Background(), now.Add(-time.Second))
	defer cancelExpired()
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	bg := context.Background()
	tests := []struct {
		name      string
		ctx       context.Context
		err       error
		own       bool
		wantClass probe.ErrorClass
		wantCause probe.Cause
	}{
		{"deadline passed, context timer not yet fired", deadlineCtx{bg, now.Add(-time.Millisecond)}, readTimeout, false, probe.ClassTimeout, probe.CauseDeadline},
		{"resolver timeout at the deadline", deadlineCtx{bg, now.Add(-time.Millisecond)}, dnsTimeout, false, probe.ClassTimeout, probe.CauseDeadline},
		{"within the slack of the deadline", deadlineCtx{bg, now.Add(probe.TimeoutSlack / 2)}, dnsTimeout, false, probe.ClassTimeout, probe.CauseDeadline},
		{"context done by its deadline", expired, readTimeout, false, probe.ClassTimeout, probe.CauseDeadline},
		{"context done, any error", expired, refused, false, probe.ClassTimeout, probe.CauseDeadline},
		{"canceled", canceled, readTimeout, false, probe.ClassCanceled, probe.CauseCanceled},
		{"not a timeout, near the deadline", deadlineCtx{bg, now.Add(probe.TimeoutSlack / 2)}, refused, false, probe.ClassDNS, probe.CauseRefused},
		{"resolver timeout long before the deadline", deadlineCtx{bg, now.Add(time.Hour)}, dnsTimeout, true, probe.ClassDNS, ""},
		{"resolver timeout without a deadline", bg, dnsTimeout, true, probe.ClassDNS, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := probe.OwnTimeout(tc.ctx, tc.err); got != tc.own {
				t.Errorf("OwnTimeout = %v, want %v", got, tc.own)
			}
			pe := probe.Classify(tc.ctx, probe.PhaseDNS, probe.ClassDNS, tc.err)
			if pe.Class != tc.wantClass || pe.Cause != tc.wantCause || pe.Phase != probe.PhaseDNS {
				t.Errorf("Classify = %s/%s in %s, want %s/%s in dns", pe.Class, pe.Cause, pe.Phase, tc.wantClass, tc.wantCause)
			}
		})
	}
	if !probe.BudgetSpent(expired, 0) || probe.BudgetSpent(canceled, time.Hour) || probe.BudgetSpent(bg, time.Hour) {
		t.Error("BudgetSpent: want true for an expired context only")
	}
	if !probe.BudgetSpent(deadlineCtx{bg, now.Add(time.Minute)}, time.Hour) || probe.BudgetSpent(deadlineCtx{bg, now.Add(time.Hour)}, time.Minute) {
		t.Error("BudgetSpent: want true within the slack, false before it")
	}
}

// TestSilentResolverIsTheBudget: resolving through a server that never
// answers ends with the budget, the DNS exchange's own timeout being the
// budget's deadline. Whichever of the two timers fires first, every run
// says class timeout, cause deadline, phase dns (before, about half the
// runs said class dns, cause timeout, when run ten at a time).
func TestSilentResolverIsTheBudget(t *testing.T) {
	server := probetest.BlackHoleDNS(t)
	const runs, together = 30, 10
	got := make([]string, runs)
	var wg sync.WaitGroup
	for i := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := probe.NewRecorder()
			res := &probe.Result{}
			d := &probe.Dialer{Opts: &probe.Options{DNSServer: server}, Rec: rec, Res: res}
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			_, err := d.Resolve(ctx, "silent.test", 80)
			probe.Finish(ctx, rec, res, err, rec.Now())
			if res.Error == nil {
				got[i] = "success"
				return
			}
			got[i] = fmt.Sprintf("%s/%s in %s", res.Error.Class, res.Error.Cause, res.Error.Phase)
			if len(res.Phases) != 1 || !res.Phases[0].Incomplete {
				got[i] += fmt.Sprintf(", phases %+v", res.Phases)
			}
		}()
		if i%together == together-1 {
			wg.Wait()
		}
	}
	wg.Wait()
	for i, g := range got {
		if g != "timeout/deadline in dns" {
			t.Errorf("run %d: %s, want timeout/deadline in dns (dns incomplete)", i, g)
		}
	}
}

// TestResolverGivesUp: a DNS exchange with no deadline is bounded by its
// own timer (miekg/dns's two seconds); its timeout is the resolver's
// failure, class dns, cause timeout.
func TestResolverGivesUp(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the resolver's own two-second timeout")
	}
	server := probetest.BlackHoleDNS(t)
	res := &probe.Result{}
	d := &probe.Dialer{Opts: &probe.Options{DNSServer: server}, Rec: probe.NewRecorder(), Res: res}
	_, err := d.Resolve(context.Background(), "silent.test", 80)
	var pe *probe.PhaseError
	if !errors.As(err, &pe) || pe.Class != probe.ClassDNS || pe.Cause != probe.CauseTimeout || pe.Phase != probe.PhaseDNS {
		t.Fatalf("err = %#v, want class dns, cause timeout in dns", err)
	}
}
