//go:build linux

// Package netns is a test utility that gives end-to-end tests a network
// path with a real, controllable round-trip time, without touching any
// network outside the test.
//
// Why: everything else in pathlens's tests runs over loopback, where a TCP
// connect takes microseconds, so a timing bug that swaps or merges phases
// (connect measured as zero, one RTT charged to the wrong phase) stays
// invisible. This kernel has no `tc netem`, so the delay is added in user
// space instead.
//
// What: NewDelayLine creates two network namespaces, A and B, each holding
// one TUN device and nothing else but loopback. A /30 that is only ever
// assigned inside those namespaces (10.231.0.1 in A, 10.231.0.2 in B)
// joins them, and a pair of goroutines copies every packet the kernel
// writes to one TUN device into the other, each held back by a fixed
// one-way delay. Packets in flight overlap, as on a real link, so the
// line adds latency, not serialisation. A process started in A (ExecA)
// reaches a listener opened in B (ListenB) over a path whose RTT is twice
// the one-way delay. Neither namespace has a route anywhere else, so tests
// built on it cannot send traffic outside the namespaces they create.
//
// The namespaces, devices and goroutines are removed by t.Cleanup, even
// when the test fails. Everything needs root, /dev/net/tun and a working
// `ip netns`; Available says whether they are there, and tests Skip with
// its reason when they are not.
package netns

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Addresses of the two ends of a DelayLine. 10.231.0.0/30 is private
// (RFC 1918) and is only ever assigned inside the namespaces this package
// creates, which have no other routes.
const (
	addrA    = "10.231.0.1"
	addrB    = "10.231.0.2"
	prefixLn = 30
	tunName  = "pltun0" // one per namespace, so the name never clashes
	netnsDir = "/run/netns"
)

// queueLen bounds the packets in flight in one direction. A packet that
// finds the queue full is dropped, as a real router would; TCP recovers.
const queueLen = 4096

var (
	availOnce sync.Once
	availErr  error
	seq       atomic.Uint64 // unique suffix for namespace names within the process
)

// Available reports whether delay lines can be built here: nil when the
// process runs as root, /dev/net/tun can be opened and `ip netns` can add
// and delete a namespace; otherwise an error naming what is missing, meant
// for t.Skip. The answer is computed once per process.
func Available() error {
	availOnce.Do(func() { availErr = checkAvailable() })
	return availErr
}

func checkAvailable() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("netns: needs root (euid %d)", os.Geteuid())
	}
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("netns: cannot open /dev/net/tun: %w", err)
	}
	_ = unix.Close(fd)
	if _, err := exec.LookPath("ip"); err != nil {
		return fmt.Errorf("netns: iproute2 `ip` not found: %w", err)
	}
	name := fmt.Sprintf("pl-%d-probe", os.Getpid())
	if err := ipCmd("netns", "add", name); err != nil {
		return fmt.Errorf("netns: `ip netns add` does not work: %w", err)
	}
	if err := ipCmd("netns", "del", name); err != nil {
		return fmt.Errorf("netns: `ip netns del` does not work: %w", err)
	}
	return nil
}

// DelayLine is a point-to-point link between two fresh network namespaces
// that delays every packet, in each direction, by a fixed one-way time.
// Create it with NewDelayLine; the test's Cleanup tears it down.
type DelayLine struct {
	nameA, nameB string
	oneWay       time.Duration

	tunA, tunB *os.File
	done       chan struct{}
	wg         sync.WaitGroup
	dropped    atomic.Uint64
}

// NewDelayLine builds namespaces A and B joined by a TUN-to-TUN link that
// delays each packet by oneWay in each direction (RTT = 2 × oneWay). It
// calls t.Fatal on any setup error (after undoing what was built) and
// registers a Cleanup that stops forwarding, closes the devices and
// deletes both namespaces. Call Available first and Skip if it fails.
func NewDelayLine(t testing.TB, oneWay time.Duration) *DelayLine {
	t.Helper()
	if oneWay < 0 {
		t.Fatalf("netns: negative one-way delay %v", oneWay)
	}
	if err := Available(); err != nil {
		t.Fatalf("netns: %v", err)
	}
	n := seq.Add(1)
	d := &DelayLine{
		nameA:  fmt.Sprintf("pl-%d-%d-a", os.Getpid(), n),
		nameB:  fmt.Sprintf("pl-%d-%d-b", os.Getpid(), n),
		oneWay: oneWay,
		done:   make(chan struct{}),
	}
	t.Cleanup(d.close)
	if err := d.setup(); err != nil {
		t.Fatalf("netns: delay line: %v", err)
	}
	return d
}

func (d *DelayLine) setup() error {
	for _, ns := range []string{d.nameA, d.nameB} {
		if err := ipCmd("netns", "add", ns); err != nil {
			return err
		}
	}
	var err error
	if d.tunA, err = openTUN(d.nameA); err != nil {
		return err
	}
	if d.tunB, err = openTUN(d.nameB); err != nil {
		return err
	}
	for _, end := range []struct{ ns, addr string }{{d.nameA, addrA}, {d.nameB, addrB}} {
		cmds := [][]string{
			{"-n", end.ns, "link", "set", "lo", "up"},
			{"-n", end.ns, "addr", "add", fmt.Sprintf("%s/%d", end.addr, prefixLn), "dev", tunName},
			{"-n", end.ns, "link", "set", tunName, "up"},
		}
		for _, c := range cmds {
			if err := ipCmd(c...); err != nil {
				return err
			}
		}
	}
	d.forward(d.tunA, d.tunB)
	d.forward(d.tunB, d.tunA)
	return nil
}

// close stops forwarding, closes both TUN devices (which destroys them)
// and deletes the namespaces. It is the Cleanup NewDelayLine registers.
func (d *DelayLine) close() {
	close(d.done)
	for _, f := range []*os.File{d.tunA, d.tunB} {
		if f != nil {
			_ = f.Close() // unblocks the reader
		}
	}
	d.wg.Wait()
	for _, ns := range []string{d.nameA, d.nameB} {
		if _, err := os.Stat(filepath.Join(netnsDir, ns)); err == nil {
			_ = ipCmd("netns", "del", ns)
		}
	}
}

// packet is one IP packet waiting in the line until due.
type packet struct {
	due  time.Time
	data []byte
}

// forward copies packets from src to dst, each delayed by oneWay. The
// reader stamps every packet with its due time and queues it; the writer
// sends packets in order as each falls due. All packets share one delay,
// so FIFO order is due order and waiting for the head never delays a
// later packet beyond its own due time: packets in flight overlap.
func (d *DelayLine) forward(src, dst *os.File) {
	q := make(chan packet, queueLen)
	d.wg.Add(2)
	go func() { // reader
		defer d.wg.Done()
		defer close(q)
		buf := make([]byte, 65536)
		for {
			n, err := src.Read(buf)
			if err != nil {
				return // closed by close, or the device went away
			}
			p := packet{due: time.Now().Add(d.oneWay), data: append([]byte(nil), buf[:n]...)}
			select {
			case q <- p:
			default:
				d.dropped.Add(1)
			}
		}
	}()
	go func() { // writer
		defer d.wg.Done()
		timer := time.NewTimer(time.Hour)
		timer.Stop()
		defer timer.Stop()
		for p := range q {
			if wait := time.Until(p.due); wait > 0 {
				timer.Reset(wait)
				select {
				case <-timer.C:
				case <-d.done:
					return
				}
			}
			if _, err := dst.Write(p.data); err != nil {
				if errors.Is(err, os.ErrClosed) {
					return
				}
				// The kernel refused this one packet (e.g. the link
				// is not up yet); drop it like a real link would.
				d.dropped.Add(1)
			}
		}
	}()
}

// NameA is the name of namespace A, as `ip netns` knows it.
func (d *DelayLine) NameA() string { return d.nameA }

// NameB is the name of namespace B, as `ip netns` knows it.
func (d *DelayLine) NameB() string { return d.nameB }

// AddrA is A's address on the link (10.231.0.1).
func (d *DelayLine) AddrA() net.IP { return net.ParseIP(addrA).To4() }

// AddrB is B's address on the link (10.231.0.2).
func (d *DelayLine) AddrB() net.IP { return net.ParseIP(addrB).To4() }

// OneWay is the delay the line adds to each packet in each direction.
func (d *DelayLine) OneWay() time.Duration { return d.oneWay }

// Dropped counts packets the line dropped (queue full or refused by the
// kernel); a healthy test sees 0.
func (d *DelayLine) Dropped() uint64 { return d.dropped.Load() }

// ListenB opens a listener inside namespace B, as net.Listen would (for
// example ListenB("tcp", "10.231.0.2:0") or ":0"). The socket belongs to
// B for its whole life; Accept may be called from any goroutine. The
// caller closes it.
func (d *DelayLine) ListenB(network, addr string) (net.Listener, error) {
	var ln net.Listener
	err := InNamespace(d.nameB, func() error {
		var err error
		ln, err = net.Listen(network, addr)
		return err
	})
	return ln, err
}

// ExecA returns a command that runs name with args inside namespace A
// (`ip netns exec A name args…`). ctx kills it as exec.CommandContext does.
func (d *DelayLine) ExecA(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", d.nameA, name}, args...)...)
}

// ExecB is ExecA for namespace B.
func (d *DelayLine) ExecB(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", d.nameB, name}, args...)...)
}

// InNamespace runs fn on an OS thread switched into the named namespace
// (one made by `ip netns add`, found in /run/netns). Sockets and devices
// fn creates belong to that namespace. fn runs on a goroutine of its own;
// the thread is switched back before it is released, and if that fails
// the thread is left locked so the runtime discards it instead of reusing
// it in the wrong namespace.
func InNamespace(name string, fn func() error) error {
	target, err := unix.Open(filepath.Join(netnsDir, name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("netns: open namespace %s: %w", name, err)
	}
	defer unix.Close(target)

	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netns: open own namespace: %w", err)
			return
		}
		defer unix.Close(orig)
		if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netns: setns %s: %w", name, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
			// Leave the thread locked: it dies with this goroutine.
			errc <- errors.Join(ferr, fmt.Errorf("netns: restore namespace: %w", err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// openTUN creates TUN device tunName inside namespace ns and returns it as
// a non-blocking file, so Close unblocks a pending Read.
func openTUN(ns string) (*os.File, error) {
	var f *os.File
	err := InNamespace(ns, func() error {
		fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open /dev/net/tun: %w", err)
		}
		ifr, err := unix.NewIfreq(tunName)
		if err != nil {
			_ = unix.Close(fd)
			return err
		}
		ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
		if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
			_ = unix.Close(fd)
			return fmt.Errorf("TUNSETIFF %s: %w", tunName, err)
		}
		f = os.NewFile(uintptr(fd), "tun:"+ns+"/"+tunName)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("netns: tun in %s: %w", ns, err)
	}
	return f, nil
}

// ipCmd runs `ip args…` and returns its output in the error on failure.
func ipCmd(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// ServeHTTPB starts a plain HTTP server in B that answers "ok" and returns
// its URL; the server stops in Cleanup. Tests use it as the far end of the
// delay line.
func (d *DelayLine) ServeHTTPB(t testing.TB) string {
	t.Helper()
	ln, err := d.ListenB("tcp", net.JoinHostPort(d.AddrB().String(), "0"))
	if err != nil {
		t.Fatalf("netns: listen in %s: %v", d.NameB(), err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, "ok\n")
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
	return fmt.Sprintf("http://%s/", ln.Addr())
}
