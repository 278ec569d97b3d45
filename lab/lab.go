// Package lab runs local fault-injection servers, one per scenario, that
// reproduce the network failures pathlens diagnoses. Each scenario pairs a
// server with the target, extra flags and exact finding IDs that
// `pathlens check --ca CA_FILE --dns-server DNS_SERVER [args] TARGET` must
// produce against it, so the lab doubles as an end-to-end test fixture and
// as the `pathlens lab` command.
//
// Everything binds 127.0.0.1 on free ports. A small authoritative DNS
// server answers the lab.test. zone, and a private PKI (a trusted root, an
// intermediate and an untrusted root) is generated fresh at every Start.
// Close stops every server and waits for every goroutine the lab started.
package lab

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Zone is the DNS zone the lab's DNS server is authoritative for; every
// scenario name resolves as <name>.lab.test.
const Zone = "lab.test."

// Options configure a Lab. The zero value starts every scenario and keeps
// its files in a temporary directory that Close removes.
type Options struct {
	// Dir is where ca.pem is written. "" means a new temporary directory
	// that Close removes; a directory given here is created if needed and
	// left in place.
	Dir string
	// Only lists the scenario names to start; nil or empty starts them all.
	// An unknown name makes Start fail.
	Only []string
	// DNSAddr is where the DNS server listens (UDP and TCP), e.g.
	// "127.0.99.1:53" so that a system resolver, which only speaks to port
	// 53, can be pointed at the lab. "" means 127.0.0.1 on a free port.
	DNSAddr string
}

// Scenario describes one fault the lab reproduces and what pathlens must
// report for it.
type Scenario struct {
	Name   string `json:"name"`
	Target string `json:"target"`
	// Args are the extra `pathlens check` flags the scenario needs (never nil).
	Args []string `json:"args"`
	// Expect are the finding IDs a correct probe must yield, exactly (never nil).
	Expect      []string `json:"expect"`
	Description string   `json:"description"`
	// Hostile marks servers that attack the client (endless headers, gzip
	// bombs, ...). Their expectation is a classified error within a bounded
	// run, so `check --lab` style runs may skip them.
	Hostile bool `json:"hostile,omitempty"`
}

// Manifest is everything a client needs to run the lab's scenarios: the
// trust anchor, the DNS server and the scenario list. It is the JSON the
// `pathlens lab` command prints.
type Manifest struct {
	CAFile    string     `json:"ca_file"`
	DNSServer string     `json:"dns_server"` // "127.0.0.1:PORT", UDP and TCP
	Zone      string     `json:"zone"`       // "lab.test."
	Scenarios []Scenario `json:"scenarios"`
}

// Lab is a running set of fault-injection servers. Create it with Start
// and release it with Close.
type Lab struct {
	dir       string
	removeDir bool
	caFile    string
	pki       *pki
	dns       *dnsServer
	scenarios []Scenario

	// done is closed when Close begins; every sleep and writer loop
	// watches it so Close returns promptly.
	done chan struct{}

	mu      sync.Mutex
	closing bool
	wg      sync.WaitGroup        // every goroutine, handler and HTTP conn the lab owns
	conns   map[net.Conn]struct{} // raw and hijacked conns, closed by Close
	hconns  map[net.Conn]struct{} // net/http conns counted in wg (StateNew..StateClosed)
	closers []func()              // listeners, servers; run by Close in reverse order

	closeOnce sync.Once
	closeErr  error
}

// Bounds shared by every server so nothing can hang Close or a client.
const (
	rawConnLifetime   = 60 * time.Second // hard deadline for raw (non net/http) conns
	writeStallTimeout = 10 * time.Second // one write may block at most this long
	requestReadLimit  = 64 << 10         // request heads read by raw servers
	requestReadTime   = 5 * time.Second
)

// Start generates the lab PKI, writes ca.pem, starts the DNS server and the
// selected scenario servers, and returns once all of them accept
// connections. ctx bounds only the start-up; the servers run until Close.
func Start(ctx context.Context, opts Options) (*Lab, error) {
	defs, err := selectScenarios(opts.Only)
	if err != nil {
		return nil, err
	}
	l := &Lab{
		done:   make(chan struct{}),
		conns:  make(map[net.Conn]struct{}),
		hconns: make(map[net.Conn]struct{}),
	}
	if err := l.start(ctx, opts, defs); err != nil {
		_ = l.Close()
		return nil, err
	}
	return l, nil
}

func (l *Lab) start(ctx context.Context, opts Options, defs []*scenarioDef) error {
	if opts.Dir == "" {
		dir, err := os.MkdirTemp("", "pathlens-lab-")
		if err != nil {
			return fmt.Errorf("lab: temp dir: %w", err)
		}
		l.dir, l.removeDir = dir, true
	} else {
		if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
			return fmt.Errorf("lab: dir: %w", err)
		}
		l.dir = opts.Dir
	}
	if abs, err := filepath.Abs(l.dir); err == nil {
		l.dir = abs
	}

	p, err := newPKI(time.Now())
	if err != nil {
		return err
	}
	l.pki = p
	l.caFile = filepath.Join(l.dir, "ca.pem")
	if err := writeCAFile(l.caFile, p.root.cert); err != nil {
		return err
	}

	if err := l.startDNS(ctx, opts.DNSAddr); err != nil {
		return err
	}

	// Start in table order, except that scenarios reserving a dead port
	// go last so no lab listener can be handed the port they released.
	targets := make(map[string]string, len(defs))
	for _, late := range []bool{false, true} {
		for _, d := range defs {
			if d.late != late {
				continue
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			target, err := d.start(l, d)
			if err != nil {
				return fmt.Errorf("lab: start %s: %w", d.name, err)
			}
			targets[d.name] = target
		}
	}
	for _, d := range defs {
		args := d.args
		if d.argsFunc != nil {
			args = d.argsFunc(l)
		}
		l.scenarios = append(l.scenarios, Scenario{
			Name:        d.name,
			Target:      targets[d.name],
			Args:        append([]string{}, args...),
			Expect:      append([]string{}, d.expect...),
			Description: d.description,
			Hostile:     d.hostile,
		})
	}
	return nil
}

// Close stops every server, closes every connection, waits for every
// goroutine the lab started and removes the temporary directory (when
// Options.Dir was empty). It is safe to call more than once.
func (l *Lab) Close() error {
	l.closeOnce.Do(func() {
		l.mu.Lock()
		l.closing = true
		close(l.done)
		closers := l.closers
		conns := make([]net.Conn, 0, len(l.conns))
		for c := range l.conns {
			conns = append(conns, c)
		}
		l.mu.Unlock()

		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
		for _, c := range conns {
			_ = c.Close()
		}
		l.wg.Wait()
		if l.removeDir && l.dir != "" {
			l.closeErr = os.RemoveAll(l.dir)
		}
	})
	return l.closeErr
}

// Manifest returns the CA file, DNS server and scenarios of the running
// lab. The returned value is a copy.
func (l *Lab) Manifest() Manifest {
	m := Manifest{
		CAFile:    l.caFile,
		DNSServer: l.DNSServer(),
		Zone:      Zone,
		Scenarios: make([]Scenario, 0, len(l.scenarios)),
	}
	for _, s := range l.scenarios {
		m.Scenarios = append(m.Scenarios, s.clone())
	}
	return m
}

// Scenario returns the named scenario if the lab runs it.
func (l *Lab) Scenario(name string) (Scenario, bool) {
	for _, s := range l.scenarios {
		if s.Name == name {
			return s.clone(), true
		}
	}
	return Scenario{}, false
}

// CAPool returns a new trust store holding only the lab root, the pool a
// client needs to trust the lab's well-behaved TLS servers.
func (l *Lab) CAPool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(l.pki.root.cert)
	return pool
}

// Root returns the lab's trusted root certificate (the one in ca.pem).
func (l *Lab) Root() *x509.Certificate { return l.pki.root.cert }

// Intermediate returns the trusted intermediate that signs the lab's
// leaves, so tests can tell it apart in a served chain.
func (l *Lab) Intermediate() *x509.Certificate { return l.pki.inter.cert }

// DNSServer returns the "127.0.0.1:PORT" address the lab DNS server
// listens on, over both UDP and TCP.
func (l *Lab) DNSServer() string {
	if l.dns == nil {
		return ""
	}
	return l.dns.addr
}

// Dir returns the directory holding ca.pem.
func (l *Lab) Dir() string { return l.dir }

// Names returns every scenario name the lab knows, in manifest order; these
// are the values Options.Only accepts.
func Names() []string {
	names := make([]string, 0, len(scenarioTable))
	for _, d := range scenarioTable {
		names = append(names, d.name)
	}
	return names
}

func (s Scenario) clone() Scenario {
	s.Args = append([]string{}, s.Args...)
	s.Expect = append([]string{}, s.Expect...)
	return s
}

func selectScenarios(only []string) ([]*scenarioDef, error) {
	if len(only) == 0 {
		return scenarioTable, nil
	}
	want := make(map[string]bool, len(only))
	for _, n := range only {
		want[n] = true
	}
	var defs []*scenarioDef
	for _, d := range scenarioTable {
		if want[d.name] {
			defs = append(defs, d)
			delete(want, d.name)
		}
	}
	if len(want) > 0 {
		var unknown []string
		for n := range want {
			unknown = append(unknown, strconv.Quote(n))
		}
		slices.Sort(unknown)
		return nil, fmt.Errorf("lab: unknown scenario %s (known: %s)",
			strings.Join(unknown, ", "), strings.Join(Names(), ", "))
	}
	return defs, nil
}

// ---- lifetime bookkeeping ----

// spawn runs f in a goroutine Close waits for. It returns false, without
// running f, once Close has begun.
func (l *Lab) spawn(f func()) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closing {
		return false
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		f()
	}()
	return true
}

// enter counts a piece of work (an HTTP handler) that Close must wait for;
// it returns false once Close has begun. Pair a true result with leave.
func (l *Lab) enter() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closing {
		return false
	}
	l.wg.Add(1)
	return true
}

func (l *Lab) leave() { l.wg.Done() }

// onClose registers f to run when Close begins (after done is closed and
// before Close waits); closers run in reverse registration order.
func (l *Lab) onClose(f func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closers = append(l.closers, f)
}

// track records a conn Close must close. It returns false once Close has
// begun; the caller then closes c itself.
func (l *Lab) track(c net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closing {
		return false
	}
	l.conns[c] = struct{}{}
	return true
}

func (l *Lab) untrack(c net.Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.conns, c)
}

// sleep waits for d or until Close begins; it reports whether the full
// duration elapsed.
func (l *Lab) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-l.done:
		return false
	}
}

// listen binds a fresh TCP port on 127.0.0.1 and registers it for Close.
func (l *Lab) listen() (net.Listener, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	l.onClose(func() { _ = ln.Close() })
	return ln, nil
}

// rawConn is a conn served by serveRaw: reads are bounded by a hard
// lifetime deadline, writes by write (which also stops once Close begins).
type rawConn struct {
	net.Conn
	end  time.Time
	done <-chan struct{}
}

var errClosing = errors.New("lab: closing")

// write writes p with a deadline of writeStallTimeout (capped at the conn's
// lifetime) so a peer that stops reading cannot pin the goroutine; it
// fails fast once Close has begun.
func (c *rawConn) write(p []byte) error {
	select {
	case <-c.done:
		return errClosing
	default:
	}
	dl := time.Now().Add(writeStallTimeout)
	if dl.After(c.end) {
		dl = c.end
	}
	if err := c.SetWriteDeadline(dl); err != nil {
		return err
	}
	_, err := c.Write(p)
	return err
}

// serveRaw accepts conns on ln and runs handle for each in its own
// goroutine. Each conn gets a hard deadline of rawConnLifetime, is closed
// when handle returns, and is closed by Close.
func (l *Lab) serveRaw(ln net.Listener, handle func(c *rawConn)) {
	l.spawn(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				if !l.sleep(10 * time.Millisecond) {
					return
				}
				continue
			}
			if !l.track(c) {
				_ = c.Close()
				return
			}
			end := time.Now().Add(rawConnLifetime)
			_ = c.SetDeadline(end)
			rc := &rawConn{Conn: c, end: end, done: l.done}
			ok := l.spawn(func() {
				defer l.untrack(c)
				defer c.Close()
				handle(rc)
			})
			if !ok {
				l.untrack(c)
				_ = c.Close()
				return
			}
		}
	})
}

// hostPortURL formats scheme://host:port with a trailing "/" when slash is set.
func hostPortURL(scheme, host string, ln net.Listener, slash bool) string {
	u := scheme + "://" + net.JoinHostPort(host, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
	if slash {
		u += "/"
	}
	return u
}
