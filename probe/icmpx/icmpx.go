// Package icmpx probes icmp:// targets: dns (when the host is a name), then
// echo — Options.ICMPCount echo requests, Options.ICMPInterval apart, sent
// with github.com/prometheus-community/pro-bing.
//
// Socket: an unprivileged ICMP datagram socket when the kernel lets this
// process open one (Linux: the process's effective or a supplementary gid
// lies in /proc/sys/net/ipv4/ping_group_range, which also governs ICMPv6;
// macOS always), otherwise a raw ICMP socket, which needs root or
// CAP_NET_RAW. Result.ICMP.Privileged says which was used.
//
// Outcome: success when at least one reply arrived (partial loss is left
// to the ICMP_LOSS finding). No reply at all is an error of class connect,
// cause "no_reply", phase echo. The budget running out before every reply
// arrived is a timeout, as for every probe. A socket the process may not
// open is class config, cause "permission".
package icmpx

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	probing "github.com/prometheus-community/pro-bing"

	"github.com/pathlens/pathlens/probe"
)

func init() {
	probe.RegisterKind(probe.Kind{Name: "icmp", Schemes: []string{"icmp"}, Phases: []string{probe.PhaseDNS, probe.PhaseEcho},
		Sections: []string{"dns", "icmp"}, Prober: probe.ProberFunc(Probe), Validate: probe.ValidateICMP})
}

// replyGrace is how long the probe waits, after the last request is due,
// for replies still in flight.
const replyGrace = time.Second

// pingGroupRange is the Linux sysctl naming the groups allowed to open
// unprivileged ICMP sockets ("1 0", the default, allows nobody).
var pingGroupRange = "/proc/sys/net/ipv4/ping_group_range"

// Probe resolves the target (phase dns, skipped for an IP literal) and
// pings the first address (phase echo: from the first request to the last
// reply, or to the end of the wait when some replies never came). It fills
// Result.ICMP; every goroutine it starts has ended when it returns.
func Probe(ctx context.Context, t probe.Target, o *probe.Options, rec *probe.Recorder, r *probe.Result) error {
	d := &probe.Dialer{Opts: o, Rec: rec, Res: r}
	addrs, err := d.Resolve(ctx, t.Host, t.Port)
	if err != nil {
		return err
	}
	addr := addrs[0]
	count, interval := o.ICMPCount, o.ICMPInterval
	if count <= 0 {
		count = probe.DefaultICMPCount
	}
	if interval <= 0 {
		interval = probe.DefaultICMPInterval
	}
	wait := time.Duration(count)*interval + replyGrace
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
		wait = time.Until(dl)
	}
	if err := ctx.Err(); err != nil || wait <= 0 {
		if err == nil {
			err = context.DeadlineExceeded
		}
		return probe.Classify(ctx, probe.PhaseEcho, probe.ClassTimeout, err)
	}

	privileged := !unprivilegedAllowed()
	info := &probe.ICMPInfo{Addr: addr.String(), RTTsMS: []float64{}, Privileged: privileged}
	r.ICMP = info

	p, err := probing.NewPinger(addr.String()) // a literal: no lookup
	if err != nil {
		return probe.Classify(ctx, probe.PhaseEcho, probe.ClassConfig, err)
	}
	p.SetLogger(probing.NoopLogger{}) // probers never print
	p.SetIPAddr(&net.IPAddr{IP: addr.AsSlice(), Zone: addr.Zone()})
	p.SetPrivileged(privileged)
	p.Count = count
	p.Interval = interval
	p.Timeout = wait
	p.RecordRtts = true
	p.RecordTTLs = false

	// The echo phase begins when the socket is ready, just before the first
	// request, and ends — together with the measured exchange — at the last
	// reply, or when the wait is over. pro-bing only returns once its
	// receiver notices the end (up to ~100 ms later), which is not counted.
	var (
		setup    bool
		received int
		timer    *time.Timer
	)
	end := sync.OnceFunc(func() {
		rec.End(probe.PhaseEcho)
		rec.MarkDone()
	})
	p.OnSetup = func() { // on this goroutine, before pro-bing starts its own
		setup = true
		rec.Begin(probe.PhaseEcho)
		timer = time.AfterFunc(wait, end)
	}
	p.OnRecv = func(*probing.Packet) { // pro-bing's send/receive loop
		received++
		if received >= count {
			end()
		}
	}
	runErr := p.RunWithContext(ctx) // waits for pro-bing's goroutines
	if timer != nil {
		timer.Stop()
	}
	if setup {
		end()
	}

	st := p.Statistics()
	info.Sent, info.Received = st.PacketsSent, st.PacketsRecv
	info.LossPct = math.Round(st.PacketLoss*1000) / 1000
	if st.PacketsRecv > 0 {
		info.MinMS, info.AvgMS, info.MaxMS = probe.MS(st.MinRtt), probe.MS(st.AvgRtt), probe.MS(st.MaxRtt)
		info.StdDevMS = probe.MS(st.StdDevRtt)
	}
	for _, rtt := range st.Rtts {
		info.RTTsMS = append(info.RTTsMS, probe.MS(rtt))
	}

	switch {
	case st.PacketsRecv < count && ctx.Err() != nil:
		// The budget ran out (or the probe was canceled) with replies
		// still owed.
		if runErr == nil {
			runErr = context.Cause(ctx)
		}
		return probe.Classify(ctx, probe.PhaseEcho, probe.ClassTimeout, runErr)
	case runErr != nil && !setup && isPermission(runErr):
		return &probe.PhaseError{Phase: probe.PhaseEcho, Class: probe.ClassConfig, Cause: probe.CausePermission,
			Err: fmt.Errorf("cannot open an ICMP socket: %w (run as root, grant CAP_NET_RAW, or allow the group in net.ipv4.ping_group_range)", runErr)}
	case runErr != nil:
		return probe.Classify(ctx, probe.PhaseEcho, probe.ClassConnect, runErr)
	case st.PacketsRecv == 0:
		return &probe.PhaseError{Phase: probe.PhaseEcho, Class: probe.ClassConnect, Cause: probe.CauseNoReply,
			Err: fmt.Errorf("no reply from %s to %d echo request(s) within %v", addr, st.PacketsSent, wait.Round(time.Millisecond))}
	}
	return nil
}

func isPermission(err error) bool {
	return errors.Is(err, os.ErrPermission) || errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES)
}

// unprivilegedAllowed reports whether this process may open an
// unprivileged ICMP (datagram) socket.
func unprivilegedAllowed() bool {
	switch runtime.GOOS {
	case "darwin":
		return true
	case "linux":
	default:
		return false
	}
	b, err := os.ReadFile(pingGroupRange)
	if err != nil {
		return false
	}
	gids, _ := os.Getgroups()
	return groupInRange(string(b), append([]int{os.Getegid()}, gids...))
}

// groupInRange reports whether any of gids lies in a ping_group_range
// value ("low high", inclusive; low > high allows nobody).
func groupInRange(rng string, gids []int) bool {
	f := strings.Fields(rng)
	if len(f) != 2 {
		return false
	}
	lo, err1 := strconv.ParseUint(f[0], 10, 32)
	hi, err2 := strconv.ParseUint(f[1], 10, 32)
	if err1 != nil || err2 != nil {
		return false
	}
	for _, g := range gids {
		if g >= 0 && uint64(g) >= lo && uint64(g) <= hi {
			return true
		}
	}
	return false
}
