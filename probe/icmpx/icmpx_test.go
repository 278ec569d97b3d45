package icmpx

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/pathlens/pathlens/diagnose"
	"github.com/pathlens/pathlens/internal/netns"
	"github.com/pathlens/pathlens/internal/probetest"
	"github.com/pathlens/pathlens/probe"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// check runs one icmp probe as the engine does: probe.Run, then diagnose.
func check(ctx context.Context, t testing.TB, target string, o *probe.Options) *probe.Result {
	t.Helper()
	tg, err := probe.ParseTarget(target)
	if err != nil {
		t.Fatalf("ParseTarget(%q): %v", target, err)
	}
	r := probe.Run(ctx, tg, o)
	diagnose.Apply(r)
	return r
}

// skipIfNoSocket skips when this process can open neither kind of ICMP socket.
func skipIfNoSocket(t *testing.T, r *probe.Result) {
	t.Helper()
	if r.Error != nil && r.Error.Class == probe.ClassConfig && r.Error.Cause == "permission" {
		t.Skipf("no ICMP socket available to this process (not root, gid outside ping_group_range): %s", r.Error.Message)
	}
}

func dump(r *probe.Result) string {
	b, _ := json.MarshalIndent(r, "", "  ")
	return string(b)
}

// phaseEnd is where the named phase ends, in ms from the start.
func phaseEnd(t *testing.T, r *probe.Result, name string) float64 {
	t.Helper()
	for _, p := range r.Phases {
		if p.Name == name {
			return p.StartMS + p.DurationMS
		}
	}
	t.Fatalf("no %s phase in %v", name, probetest.PhaseNames(r))
	return 0
}

func TestGroupInRange(t *testing.T) {
	cases := []struct {
		rng  string
		gids []int
		want bool
	}{
		{"1\t0\n", []int{0}, false}, // the kernel default allows nobody
		{"1\t0\n", []int{1, 1000}, false},
		{"0\t2147483647\n", []int{0}, true}, // systemd's default allows everyone
		{"100 200", []int{99, 201}, false},
		{"100 200", []int{99, 100}, true}, // a supplementary group counts
		{"100 200", []int{200}, true},
		{"", []int{0}, false},
		{"junk", []int{0}, false},
		{"a b", []int{0}, false},
	}
	for _, c := range cases {
		if got := groupInRange(c.rng, c.gids); got != c.want {
			t.Errorf("groupInRange(%q, %v) = %v, want %v", c.rng, c.gids, got, c.want)
		}
	}
}

func TestPingLoopback(t *testing.T) {
	r := check(context.Background(), t, "icmp://127.0.0.1", &probe.Options{ICMPCount: 3, ICMPInterval: 20 * time.Millisecond, Timeout: 5 * time.Second})
	skipIfNoSocket(t, r)
	t.Logf("privileged (raw socket): %v, rtts %v ms", r.ICMP != nil && r.ICMP.Privileged, r.ICMP.RTTsMS)
	if !r.Success || r.Error != nil {
		t.Fatalf("probe failed: %s", dump(r))
	}
	if got := probetest.PhaseNames(r); !slices.Equal(got, []string{probe.PhaseEcho}) {
		t.Errorf("phases %v, want [echo] (no dns for a literal)", got)
	}
	ic := r.ICMP
	if ic == nil {
		t.Fatalf("no icmp block: %s", dump(r))
	}
	if ic.Sent != 3 || ic.Received != 3 || ic.LossPct != 0 || len(ic.RTTsMS) != 3 {
		t.Errorf("sent %d received %d loss %v rtts %v; want 3, 3, 0 and three RTTs", ic.Sent, ic.Received, ic.LossPct, ic.RTTsMS)
	}
	if ic.Addr != "127.0.0.1" {
		t.Errorf("addr %q, want 127.0.0.1", ic.Addr)
	}
	if ic.Privileged != !unprivilegedAllowed() {
		t.Errorf("privileged %v, but unprivileged sockets allowed = %v", ic.Privileged, unprivilegedAllowed())
	}
	if !(ic.MinMS > 0 && ic.MinMS <= ic.AvgMS && ic.AvgMS <= ic.MaxMS) {
		t.Errorf("rtt stats min %v avg %v max %v, want 0 < min <= avg <= max", ic.MinMS, ic.AvgMS, ic.MaxMS)
	}
	// Requests at 0, 20 and 40 ms: the last reply cannot come before 40 ms,
	// and the probe ends there, not when pro-bing's receiver winds down.
	end := phaseEnd(t, r, probe.PhaseEcho)
	if end < 40 || end > 1000 {
		t.Errorf("echo ends at %.3f ms, want between 40 ms (3 requests 20 ms apart) and 1 s", end)
	}
	if r.TotalMS-end > 5 {
		t.Errorf("total %.3f ms is %.3f ms past the last reply; want the total to end at the exchange", r.TotalMS, r.TotalMS-end)
	}
	if len(r.Findings) != 0 {
		t.Errorf("findings %v on a clean ping, want none", r.Findings)
	}
}

func TestPingLoopbackIPv6(t *testing.T) {
	r := check(context.Background(), t, "icmp://[::1]", &probe.Options{ICMPCount: 2, ICMPInterval: 10 * time.Millisecond, Timeout: 5 * time.Second})
	skipIfNoSocket(t, r)
	if r.Error != nil && r.Error.Cause == "unreachable" {
		t.Skipf("no IPv6 loopback here: %s", r.Error.Message)
	}
	if !r.Success || r.ICMP == nil || r.ICMP.Received != 2 || r.ICMP.Addr != "::1" {
		t.Fatalf("want 2 replies from ::1: %s", dump(r))
	}
}

func TestNameIsResolved(t *testing.T) {
	// --resolve pins the name (port 0: icmp targets have none), so the
	// lookup stays off the network; the name goes through Dialer.Resolve.
	o := &probe.Options{ICMPCount: 1, ICMPInterval: 10 * time.Millisecond, Timeout: 5 * time.Second,
		Resolve: []probe.ResolveEntry{{Host: "pinged.test", Port: 0, Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.1")}}}}
	r := check(context.Background(), t, "icmp://pinged.test", o)
	skipIfNoSocket(t, r)
	if !r.Success || r.ICMP == nil || r.ICMP.Addr != "127.0.0.1" || r.DNS == nil || r.DNS.Source != "resolve" {
		t.Fatalf("want a pinned name pinged at 127.0.0.1: %s", dump(r))
	}
	o.IPv6Only = true
	r = check(context.Background(), t, "icmp://pinged.test", o)
	if r.Success || r.Error == nil || r.Error.Class != probe.ClassDNS || r.Error.Cause != "no_address" {
		t.Fatalf("--ipv6 with only an IPv4 address: want a dns error no_address: %s", dump(r))
	}
	if r.ICMP != nil {
		t.Errorf("icmp block present although nothing was sent")
	}
}

func TestBudgetRunsOutMidEcho(t *testing.T) {
	r := check(context.Background(), t, "icmp://127.0.0.1", &probe.Options{ICMPCount: 1000, ICMPInterval: 10 * time.Millisecond, Timeout: 150 * time.Millisecond})
	skipIfNoSocket(t, r)
	if r.Success || r.Error == nil || r.Error.Class != probe.ClassTimeout || r.Error.Phase != probe.PhaseEcho {
		t.Fatalf("want a timeout in echo: %s", dump(r))
	}
	last := r.Phases[len(r.Phases)-1]
	if last.Name != probe.PhaseEcho || !last.Incomplete {
		t.Errorf("last phase %+v, want echo marked incomplete", last)
	}
	if r.ICMP == nil || r.ICMP.Sent == 0 || r.ICMP.Received == 0 {
		t.Errorf("want the requests sent before the budget ran out counted: %+v", r.ICMP)
	}
	if r.TotalMS < 140 || r.TotalMS > 400 {
		t.Errorf("total %.1f ms, want about the 150 ms budget", r.TotalMS)
	}
	var got []string
	for _, f := range r.Findings {
		got = append(got, f.ID)
	}
	if !slices.Equal(got, []string{diagnose.IDProbeTimeout}) {
		t.Errorf("findings %v, want [PROBE_TIMEOUT] only (requests cut off by the budget are not loss)", got)
	}
}

func TestCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(60*time.Millisecond, cancel)
	r := check(ctx, t, "icmp://127.0.0.1", &probe.Options{ICMPCount: 100, ICMPInterval: 10 * time.Millisecond})
	skipIfNoSocket(t, r)
	if r.Error == nil || r.Error.Class != probe.ClassCanceled || r.Error.Phase != probe.PhaseEcho {
		t.Fatalf("want class canceled in echo: %s", dump(r))
	}
}

// ---- a namespace of our own where an address answers as we choose ----

// Addresses inside the namespace: the probe's side and the peer the TUN
// responder plays. 10.231.9.0/24 exists only inside namespaces these tests
// create, which have no route anywhere else.
const (
	nsLocal = "10.231.9.1"
	nsPeer  = "10.231.9.9"
	nsTUN   = "plicmp0"
)

var nsSeq atomic.Uint64

// peerNS creates a network namespace holding lo and a TUN device whose
// other end is a responder in this process: it answers the echo requests
// to nsPeer for which answer(seq) is true and drops the others. It returns
// the namespace's name; Cleanup removes everything.
func peerNS(t *testing.T, answer func(seq int) bool) string {
	t.Helper()
	if err := netns.Available(); err != nil {
		t.Skipf("namespace test: %v", err)
	}
	name := fmt.Sprintf("pl-icmp-%d-%d", os.Getpid(), nsSeq.Add(1))
	if err := ip("netns", "add", name); err != nil {
		t.Skipf("namespace test: %v", err)
	}
	t.Cleanup(func() { _ = ip("netns", "del", name) })

	var tun *os.File
	err := netns.InNamespace(name, func() error {
		fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		ifr, err := unix.NewIfreq(nsTUN)
		if err != nil {
			unix.Close(fd)
			return err
		}
		ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
		if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
			unix.Close(fd)
			return fmt.Errorf("TUNSETIFF: %w", err)
		}
		tun = os.NewFile(uintptr(fd), "tun:"+name) // non-blocking: Close unblocks Read
		return nil
	})
	if err != nil {
		t.Fatalf("tun in %s: %v", name, err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { tun.Close(); wg.Wait() })
	for _, c := range [][]string{
		{"-n", name, "link", "set", "lo", "up"},
		{"-n", name, "addr", "add", nsLocal + "/24", "dev", nsTUN},
		{"-n", name, "link", "set", nsTUN, "up"},
	} {
		if err := ip(c...); err != nil {
			t.Fatal(err)
		}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		respond(tun, answer)
	}()
	return name
}

// respond reads IPv4 packets from tun and writes back an echo reply for
// each echo request to nsPeer that answer lets through.
func respond(tun *os.File, answer func(seq int) bool) {
	buf := make([]byte, 65536)
	peer := [4]byte{10, 231, 9, 9}
	for {
		n, err := tun.Read(buf)
		if err != nil {
			return
		}
		pkt := buf[:n]
		if n < 20 || pkt[0]>>4 != 4 || pkt[9] != 1 || [4]byte(pkt[16:20]) != peer {
			continue
		}
		ihl := int(pkt[0]&0x0f) * 4
		if n < ihl+8 || pkt[ihl] != 8 { // ICMP echo request
			continue
		}
		if !answer(int(binary.BigEndian.Uint16(pkt[ihl+6:]))) {
			continue
		}
		reply := bytes.Clone(pkt)
		copy(reply[12:16], pkt[16:20]) // swapping the addresses keeps the IP checksum
		copy(reply[16:20], pkt[12:16])
		ic := reply[ihl:]
		ic[0], ic[2], ic[3] = 0, 0, 0 // echo reply, checksum recomputed
		binary.BigEndian.PutUint16(ic[2:], checksum(ic))
		if _, err := tun.Write(reply); err != nil {
			return
		}
	}
}

func checksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// childEnv carries a childSpec to the re-executed test binary.
const childEnv = "PATHLENS_ICMPX_CHILD"

type childSpec struct {
	Target   string        `json:"target"`
	Count    int           `json:"count"`
	Interval time.Duration `json:"interval"`
	Timeout  time.Duration `json:"timeout"`
}

const resultMarker = "ICMPX-RESULT "

// checkInNS runs the probe inside namespace ns, in this test binary
// re-executed under `ip netns exec`, and returns its diagnosed Result.
func checkInNS(t *testing.T, ns string, spec childSpec) *probe.Result {
	t.Helper()
	raw, _ := json.Marshal(spec)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns, os.Args[0], "-test.run=^TestICMPChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+string(raw))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child in %s: %v\nstdout: %s\nstderr: %s", ns, err, out, stderr.Bytes())
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if line, ok := strings.CutPrefix(sc.Text(), resultMarker); ok {
			var r probe.Result
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				t.Fatalf("child result: %v: %s", err, line)
			}
			return &r
		}
	}
	t.Fatalf("child printed no result:\n%s\nstderr: %s", out, stderr.Bytes())
	return nil
}

// TestICMPChild is the probe run inside a namespace by checkInNS; on its
// own it skips.
func TestICMPChild(t *testing.T) {
	raw := os.Getenv(childEnv)
	if raw == "" {
		t.Skip("runs only as the child of a namespace test")
	}
	var s childSpec
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		t.Fatal(err)
	}
	r := check(context.Background(), t, s.Target, &probe.Options{ICMPCount: s.Count, ICMPInterval: s.Interval, Timeout: s.Timeout})
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("\n%s%s\n", resultMarker, b)
}

func TestNoReplyIsTotalLoss(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("network namespaces are Linux only")
	}
	ns := peerNS(t, func(int) bool { return false }) // the peer never answers
	r := checkInNS(t, ns, childSpec{Target: "icmp://" + nsPeer, Count: 3, Interval: 20 * time.Millisecond, Timeout: 5 * time.Second})
	skipIfNoSocket(t, r)
	if r.Success || r.Error == nil || r.Error.Class != probe.ClassConnect || r.Error.Cause != "no_reply" || r.Error.Phase != probe.PhaseEcho {
		t.Fatalf("want error connect/no_reply in echo: %s", dump(r))
	}
	ic := r.ICMP
	if ic == nil || ic.Sent != 3 || ic.Received != 0 || ic.LossPct != 100 || len(ic.RTTsMS) != 0 {
		t.Fatalf("want 3 sent, 0 received, 100 %% loss: %s", dump(r))
	}
	// The wait is 3 × 20 ms + 1 s; echo and total end there.
	end := phaseEnd(t, r, probe.PhaseEcho)
	if end < 1050 || end > 1300 {
		t.Errorf("echo ends at %.1f ms, want about 1060 ms (3 × 20 ms + 1 s of waiting)", end)
	}
	if r.TotalMS-end > 5 {
		t.Errorf("total %.1f ms is %.1f ms past the end of the wait", r.TotalMS, r.TotalMS-end)
	}
	f := probetest.Finding(r, diagnose.IDICMPLoss)
	if f == nil || f.Severity != probe.SeverityCritical || f.Phase != probe.PhaseEcho {
		t.Fatalf("want a critical ICMP_LOSS in echo: %s", dump(r))
	}
	t.Logf("summary: %s", f.Summary)
}

func TestPartialLoss(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("network namespaces are Linux only")
	}
	ns := peerNS(t, func(seq int) bool { return seq%2 == 1 }) // every other request answered
	r := checkInNS(t, ns, childSpec{Target: "icmp://" + nsPeer, Count: 4, Interval: 20 * time.Millisecond, Timeout: 5 * time.Second})
	skipIfNoSocket(t, r)
	if !r.Success || r.Error != nil {
		t.Fatalf("want success (some replies came back): %s", dump(r))
	}
	ic := r.ICMP
	if ic == nil || ic.Sent != 4 || ic.Received != 2 || ic.LossPct != 50 || len(ic.RTTsMS) != 2 || ic.Addr != nsPeer {
		t.Fatalf("want 4 sent, 2 received, 50 %% loss: %s", dump(r))
	}
	var ids []string
	for _, f := range r.Findings {
		ids = append(ids, f.ID)
	}
	if !slices.Equal(ids, []string{diagnose.IDICMPLoss}) || r.Findings[0].Severity != probe.SeverityWarning {
		t.Fatalf("findings %v, want one ICMP_LOSS warning: %s", ids, dump(r))
	}
	t.Logf("privileged (raw socket) in the namespace: %v; summary: %s", ic.Privileged, r.Findings[0].Summary)
}

// TestUnprivilegedSocket widens ping_group_range inside a namespace of our
// own (the sysctl is per namespace), so the child uses an unprivileged
// ICMP datagram socket even as root.
func TestUnprivilegedSocket(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("network namespaces are Linux only")
	}
	ns := peerNS(t, func(int) bool { return true })
	if err := ip("netns", "exec", ns, "sh", "-c", "echo 0 2147483647 > /proc/sys/net/ipv4/ping_group_range"); err != nil {
		t.Skipf("cannot widen ping_group_range in %s: %v", ns, err)
	}
	r := checkInNS(t, ns, childSpec{Target: "icmp://" + nsPeer, Count: 3, Interval: 20 * time.Millisecond, Timeout: 5 * time.Second})
	if !r.Success || r.ICMP == nil || r.ICMP.Privileged || r.ICMP.Received != 3 || len(r.Findings) != 0 {
		t.Fatalf("want 3 replies over an unprivileged socket and no finding: %s", dump(r))
	}
}
