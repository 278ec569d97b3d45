//go:build linux

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pathlens/pathlens/internal/netns"
	"github.com/pathlens/pathlens/internal/probetest"
	"github.com/pathlens/pathlens/lab"
)

// pathlensBin is the binary TestMain builds once for every test.
var pathlensBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pathlens-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	pathlensBin = filepath.Join(dir, "pathlens")
	build := exec.Command("go", "build", "-o", pathlensBin, "./cmd/pathlens")
	build.Dir = ".." // the module root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: go build ./cmd/pathlens: %v\n%s", err, out)
		_ = os.RemoveAll(dir)
		os.Exit(1)
	}
	// The lab runs in-process; every test closes it, so nothing may be
	// left running at the end.
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		_ = os.RemoveAll(dir)
		os.Exit(code)
	}))
}

// runs is how many times each comparison is measured; medians are
// compared, which absorbs one outlier from loopback jitter.
const runs = 3

// tolerance is how far pathlens may be from curl's value, in ms.
func tolerance(curlMS float64) float64 { return 2 + 0.05*curlMS }

// runner starts a command: exec.CommandContext for the host, or a delay
// line's ExecA for namespace A.
type runner func(ctx context.Context, name string, args ...string) *exec.Cmd

// plResult is the part of pathlens's JSON result (docs/result.md) these
// tests read.
type plResult struct {
	Success bool `json:"success"`
	Error   *struct {
		Class   string `json:"class"`
		Phase   string `json:"phase"`
		Message string `json:"message"`
	} `json:"error"`
	Phases []struct {
		Name       string  `json:"name"`
		DurationMS float64 `json:"duration_ms"`
		Incomplete bool    `json:"incomplete"`
	} `json:"phases"`
}

// runPathlens runs `pathlens check --json args…` and returns each phase's
// duration in ms. Exit status 1 (a warning finding, which the slow
// scenarios are built to cause) is fine; the probe itself must succeed.
func runPathlens(t *testing.T, run runner, args ...string) map[string]float64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := run(ctx, pathlensBin, append([]string{"check", "--json", "--timeout", "10s"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 1) {
		t.Fatalf("pathlens %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, stdout.Bytes(), stderr.Bytes())
	}
	var r plResult
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		t.Fatalf("pathlens %s: bad JSON: %v\n%s", strings.Join(args, " "), err, stdout.Bytes())
	}
	if !r.Success {
		t.Fatalf("pathlens %s: probe failed: %+v\n%s", strings.Join(args, " "), r.Error, stdout.Bytes())
	}
	phases := make(map[string]float64, len(r.Phases))
	for _, p := range r.Phases {
		if p.Incomplete {
			t.Fatalf("pathlens %s: phase %s incomplete\n%s", strings.Join(args, " "), p.Name, stdout.Bytes())
		}
		phases[p.Name] += p.DurationMS
	}
	return phases
}

// phase returns one phase of a pathlens run, failing if it is absent.
func phase(t *testing.T, phases map[string]float64, name string) float64 {
	t.Helper()
	v, ok := phases[name]
	if !ok {
		t.Fatalf("pathlens reported no %q phase: %v", name, phases)
	}
	return v
}

// curlTimes are curl's -w timers, in ms from the start of the transfer.
type curlTimes struct {
	namelookup, connect, appconnect, pretransfer, starttransfer, total float64
}

const curlFormat = "%{time_namelookup} %{time_connect} %{time_appconnect} " +
	"%{time_pretransfer} %{time_starttransfer} %{time_total}"

// curlArgs are the flags every curl run gets, then extra.
func curlArgs(extra ...string) []string {
	return append([]string{"-sS", "-o", "/dev/null", "--noproxy", "*",
		"--max-time", "10", "-w", curlFormat}, extra...)
}

// runCurl runs the command (curl with curlArgs, possibly wrapped) and
// parses its timers.
func runCurl(t *testing.T, cmd *exec.Cmd) curlTimes {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\nstdout: %s\nstderr: %s", strings.Join(cmd.Args, " "), err, stdout.Bytes(), stderr.Bytes())
	}
	f := strings.Fields(stdout.String())
	if len(f) != 6 {
		t.Fatalf("curl -w output %q: want 6 timers", stdout.String())
	}
	var v [6]float64
	for i, s := range f {
		sec, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("curl -w output %q: %v", stdout.String(), err)
		}
		v[i] = sec * 1000
	}
	return curlTimes{v[0], v[1], v[2], v[3], v[4], v[5]}
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func fmtMS(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = strconv.FormatFloat(x, 'f', 2, 64)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// compare holds the median of pathlens's values to the median of curl's,
// within tolerance, and logs both so the numbers can be quoted.
func compare(t *testing.T, label, plName string, pl []float64, curlName string, curl []float64) {
	t.Helper()
	mp, mc := median(pl), median(curl)
	tol := tolerance(mc)
	diff := mp - mc
	t.Logf("%s: pathlens %s median %.2f ms %s vs curl %s median %.2f ms %s: diff %+.2f ms, tolerance ±%.2f ms",
		label, plName, mp, fmtMS(pl), curlName, mc, fmtMS(curl), diff, tol)
	if math.Abs(diff) > tol {
		t.Errorf("%s: pathlens %s (median %.2f ms) differs from curl %s (median %.2f ms) by %+.2f ms, over the ±%.2f ms tolerance (2 ms + 5 %%)",
			label, plName, mp, curlName, mc, diff, tol)
	}
}

// note logs a pair of medians without asserting on them (context for
// the report, e.g. loopback connect times).
func note(t *testing.T, label, plName string, pl []float64, curlName string, curl []float64) {
	t.Helper()
	t.Logf("%s (info only): pathlens %s median %.2f ms %s vs curl %s median %.2f ms %s",
		label, plName, median(pl), fmtMS(pl), curlName, median(curl), fmtMS(curl))
}

func scenario(t *testing.T, l *lab.Lab, name string) (lab.Scenario, *url.URL) {
	t.Helper()
	s := probetest.LabScenario(t, l, name)
	u, err := url.Parse(s.Target)
	if err != nil {
		t.Fatalf("scenario %s target %q: %v", name, s.Target, err)
	}
	return s, u
}

// labDNSAddr is where the dns-slow comparison runs the lab's DNS server:
// port 53, because glibc's resolver (which curl uses) only speaks to port
// 53, on a loopback address nothing else uses.
const labDNSAddr = "127.0.99.1:53"

// systemResolverUsesDNS reports whether getaddrinfo consults DNS for host
// names at all (the hosts line of /etc/nsswitch.conf names dns).
func systemResolverUsesDNS() error {
	data, err := os.ReadFile("/etc/nsswitch.conf")
	if errors.Is(err, os.ErrNotExist) {
		return nil // glibc's default hosts line includes dns
	}
	if err != nil {
		return err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if line, _, _ = strings.Cut(line, "#"); !strings.HasPrefix(strings.TrimSpace(line), "hosts:") {
			continue
		}
		if slices.Contains(strings.Fields(line)[1:], "dns") {
			return nil
		}
		return fmt.Errorf("/etc/nsswitch.conf hosts line %q does not use dns", strings.TrimSpace(line))
	}
	return errors.New("/etc/nsswitch.conf has no hosts line")
}

// canBind checks that addr is free for the lab's DNS server on UDP and TCP.
func canBind(addr string) error {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return err
	}
	_ = pc.Close()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return ln.Close()
}

// TestTimingDNSSlow compares pathlens's dns phase with curl's
// time_namelookup against the lab DNS server that answers slow.lab.test
// after 300 ms. curl resolves through glibc, so it runs in a private
// mount namespace whose /etc/resolv.conf points at the lab's server.
func TestTimingDNSSlow(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: binds port 53 and bind-mounts /etc/resolv.conf in a private mount namespace")
	}
	if err := systemResolverUsesDNS(); err != nil {
		t.Skipf("curl resolves through the system resolver, which would not ask the lab DNS: %v", err)
	}
	for _, tool := range []string{"unshare", "mount", "sh"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s to give curl its own /etc/resolv.conf: %v", tool, err)
		}
	}
	if err := canBind(labDNSAddr); err != nil {
		t.Skipf("cannot bind the lab DNS server to %s: %v", labDNSAddr, err)
	}

	l := probetest.StartLabWith(t, lab.Options{Only: []string{"dns-slow"}, DNSAddr: labDNSAddr})
	if got := l.DNSServer(); got != labDNSAddr {
		t.Fatalf("lab DNS server listens on %s, want %s", got, labDNSAddr)
	}
	s, u := scenario(t, l, "dns-slow")

	resolv := filepath.Join(t.TempDir(), "resolv.conf")
	host, _, _ := net.SplitHostPort(labDNSAddr)
	if err := os.WriteFile(resolv, []byte("nameserver "+host+"\noptions attempts:1\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	var pl, pConnect, cl, cConnect []float64
	for range runs {
		ph := runPathlens(t, exec.CommandContext,
			append(slices.Clone(s.Args), "--dns-server", labDNSAddr, s.Target)...)
		pl = append(pl, phase(t, ph, "dns"))
		pConnect = append(pConnect, phase(t, ph, "connect"))

		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		// sh gets the resolv.conf path as $0 and curl's arguments as $@.
		ct := runCurl(t, exec.CommandContext(ctx, "unshare", append([]string{"--mount", "sh", "-c",
			`mount --bind "$0" /etc/resolv.conf && exec curl "$@"`, resolv}, curlArgs(s.Target)...)...))
		cancel()
		cl = append(cl, ct.namelookup)
		cConnect = append(cConnect, ct.connect-ct.namelookup)
	}
	compare(t, "dns-slow "+u.Host, "dns", pl, "time_namelookup", cl)
	note(t, "dns-slow "+u.Host, "connect", pConnect, "time_connect−time_namelookup", cConnect)
}

// TestTimingTLSSlow compares pathlens's tls phase with curl's
// time_appconnect − time_connect against the server that waits 500 ms
// before its TLS handshake.
func TestTimingTLSSlow(t *testing.T) {
	l := probetest.StartLabWith(t, lab.Options{Only: []string{"tls-slow"}})
	s, u := scenario(t, l, "tls-slow")
	ca := l.Manifest().CAFile
	pin := fmt.Sprintf("%s:%s:127.0.0.1", u.Hostname(), u.Port())

	var pl, pConnect, cl, cConnect []float64
	for range runs {
		ph := runPathlens(t, exec.CommandContext, append(slices.Clone(s.Args),
			"--ca", ca, "--resolve", pin, "--no-resumption-check", s.Target)...)
		pl = append(pl, phase(t, ph, "tls"))
		pConnect = append(pConnect, phase(t, ph, "connect"))

		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		ct := runCurl(t, exec.CommandContext(ctx, "curl",
			curlArgs("--cacert", ca, "--resolve", pin, s.Target)...))
		cancel()
		cl = append(cl, ct.appconnect-ct.connect)
		cConnect = append(cConnect, ct.connect-ct.namelookup)
	}
	compare(t, "tls-slow "+u.Host, "tls", pl, "time_appconnect−time_connect", cl)
	note(t, "tls-slow "+u.Host, "connect", pConnect, "time_connect−time_namelookup", cConnect)
}

// TestTimingHTTPSlow compares pathlens's wait phase with curl's
// time_starttransfer − time_pretransfer against the server that sends
// its first byte after 400 ms.
func TestTimingHTTPSlow(t *testing.T) {
	l := probetest.StartLabWith(t, lab.Options{Only: []string{"http-slow"}})
	s, u := scenario(t, l, "http-slow")

	var pl, pReqWait, pConnect, cl, cConnect []float64
	for range runs {
		ph := runPathlens(t, exec.CommandContext, append(slices.Clone(s.Args), s.Target)...)
		pl = append(pl, phase(t, ph, "wait"))
		pReqWait = append(pReqWait, phase(t, ph, "request")+phase(t, ph, "wait"))
		pConnect = append(pConnect, phase(t, ph, "connect"))

		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		ct := runCurl(t, exec.CommandContext(ctx, "curl", curlArgs(s.Target)...))
		cancel()
		cl = append(cl, ct.starttransfer-ct.pretransfer)
		cConnect = append(cConnect, ct.connect-ct.namelookup)
	}
	compare(t, "http-slow "+u.Host, "wait", pl, "time_starttransfer−time_pretransfer", cl)
	note(t, "http-slow "+u.Host, "request+wait", pReqWait, "time_starttransfer−time_pretransfer", cl)
	note(t, "http-slow "+u.Host, "connect", pConnect, "time_connect−time_namelookup", cConnect)
}

// TestTimingConnectRTT compares pathlens with curl across a real round
// trip: both run in namespace A of a delay line (25 ms each way, so an
// RTT of 50 ms) against a plain HTTP server listening in B. The TCP
// connect and the wait for the first byte each take one RTT.
func TestTimingConnectRTT(t *testing.T) {
	if err := netns.Available(); err != nil {
		t.Skip(err)
	}
	const oneWay = 25 * time.Millisecond
	d := netns.NewDelayLine(t, oneWay)

	target := d.ServeHTTPB(t)

	var pConnect, pWait, cConnect, cWait []float64
	for range runs {
		ph := runPathlens(t, d.ExecA, target)
		pConnect = append(pConnect, phase(t, ph, "connect"))
		pWait = append(pWait, phase(t, ph, "wait"))

		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		ct := runCurl(t, d.ExecA(ctx, "curl", curlArgs(target)...))
		cancel()
		cConnect = append(cConnect, ct.connect)
		cWait = append(cWait, ct.starttransfer-ct.pretransfer)
	}
	label := fmt.Sprintf("delay line %v one-way %s", oneWay, target)
	compare(t, label, "connect", pConnect, "time_connect", cConnect)
	compare(t, label, "wait", pWait, "time_starttransfer−time_pretransfer", cWait)
	if n := d.Dropped(); n != 0 {
		t.Errorf("delay line dropped %d packets", n)
	}
}
