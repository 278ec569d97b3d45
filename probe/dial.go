package probe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// FallbackDelay is how long a connect attempt runs before the next address
// is tried in parallel (RFC 8305 "Happy Eyeballs" connection attempt delay).
const FallbackDelay = 300 * time.Millisecond

// Address caps. One DNS answer over TCP can hold some 4,000 A records; a
// probe races to a few of them and lists a few more, so a hostile answer
// costs neither thousands of connections nor megabytes of output.
const (
	// MaxConnectAddrs is how many addresses one connect tries at most,
	// taken in Happy Eyeballs order (families alternating), so a
	// dual-stack name keeps up to half of them in each family.
	MaxConnectAddrs = 8
	// MaxListedAddrs is how many addresses DNSInfo.Addrs and
	// ConnInfo.Denied list at most; AddrsOmitted and DeniedOmitted count
	// the rest.
	MaxListedAddrs = 16
)

// Dialer runs the shared first phases of a probe — dns, connect — and
// records them into the Recorder and the Result. One Dialer serves one
// probe; it is not safe for concurrent use.
type Dialer struct {
	Opts *Options
	Rec  *Recorder
	Res  *Result

	app *appConn // the last AppConn on TLS 1.3 (LateAlert reads it)
}

// Resolve looks host up (phase dns) unless it is an IP literal or pinned
// with --resolve, honouring --dns-server and --ipv4/--ipv6. It fills
// Result.DNS and leaves out the addresses Options.DenyNetworks covers
// (see Connect).
func (d *Dialer) Resolve(ctx context.Context, host string, port int) ([]netip.Addr, error) {
	addrs, err := d.resolve(ctx, host, port)
	if err != nil {
		return nil, err
	}
	return d.permit(host, addrs)
}

func (d *Dialer) resolve(ctx context.Context, host string, port int) ([]netip.Addr, error) {
	o := d.Opts
	if ip, err := netip.ParseAddr(host); err == nil {
		d.Res.DNS = nil
		return filterFamily([]netip.Addr{ip.Unmap()}, o)
	}
	for _, e := range o.Resolve {
		if strings.EqualFold(e.Host, host) && e.Port == port {
			info := &DNSInfo{Name: host, Source: "resolve"}
			info.Addrs, info.AddrsOmitted = listAddrs(e.Addrs)
			d.Res.DNS = info
			return filterFamily(e.Addrs, o)
		}
	}
	info := &DNSInfo{Name: host}
	d.Res.DNS = info
	d.Rec.Begin(PhaseDNS)
	var addrs []netip.Addr
	var err error
	if o.DNSServer != "" {
		info.Source, info.Server = "dns", o.DNSServer
		var rcode int
		addrs, rcode, err = lookupVia(ctx, o.DNSServer, host, o)
		info.Rcode = dns.RcodeToString[rcode]
	} else {
		info.Source, info.Server = "system", "system"
		addrs, err = lookupSystem(ctx, host, o)
		switch {
		case err == nil:
			info.Rcode = "NOERROR"
		case isNotFound(err):
			info.Rcode = "NXDOMAIN"
		}
	}
	d.Rec.End(PhaseDNS)
	info.Addrs, info.AddrsOmitted = listAddrs(addrs)
	if err != nil {
		return nil, Classify(ctx, PhaseDNS, ClassDNS, err)
	}
	if len(addrs) == 0 {
		return nil, Errorf(PhaseDNS, ClassDNS, CauseNoAddress, "%s has no %s address", host, familyWord(o))
	}
	return addrs, nil
}

func familyWord(o *Options) string {
	switch {
	case o.IPv4Only:
		return "IPv4"
	case o.IPv6Only:
		return "IPv6"
	}
	return "IPv4 or IPv6"
}

func isNotFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}

func lookupSystem(ctx context.Context, host string, o *Options) ([]netip.Addr, error) {
	network := "ip"
	if o.IPv4Only {
		network = "ip4"
	} else if o.IPv6Only {
		network = "ip6"
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, network, host)
	if err != nil {
		var de *net.DNSError
		if errors.As(err, &de) && de.IsNotFound {
			return nil, &PhaseError{Phase: PhaseDNS, Class: ClassDNS, Cause: CauseNXDomain, Err: err}
		}
		if errors.As(err, &de) && de.IsTimeout && OwnTimeout(ctx, err) {
			return nil, &PhaseError{Phase: PhaseDNS, Class: ClassDNS, Cause: CauseTimeout, Err: err}
		}
		return nil, err
	}
	for i := range addrs {
		addrs[i] = addrs[i].Unmap()
	}
	return addrs, nil
}

// lookupVia asks server for A and AAAA in parallel and merges the answers,
// A first (the order the connect phase will try them, interleaved).
func lookupVia(ctx context.Context, server, host string, o *Options) ([]netip.Addr, int, error) {
	var types []uint16
	if !o.IPv6Only {
		types = append(types, dns.TypeA)
	}
	if !o.IPv4Only {
		types = append(types, dns.TypeAAAA)
	}
	type answer struct {
		msg *dns.Msg
		err error
	}
	answers := make([]answer, len(types))
	var wg sync.WaitGroup
	for i, qt := range types {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, err := Exchange(ctx, server, host, qt)
			answers[i] = answer{m, err}
		}()
	}
	wg.Wait()
	var addrs []netip.Addr
	rcode := dns.RcodeSuccess
	var firstErr error
	for _, a := range answers {
		if a.err != nil {
			if firstErr == nil {
				firstErr = a.err
			}
			continue
		}
		if a.msg.Rcode != dns.RcodeSuccess {
			rcode = a.msg.Rcode
			continue
		}
		for _, rr := range a.msg.Answer {
			switch v := rr.(type) {
			case *dns.A:
				if ip, ok := netip.AddrFromSlice(v.A); ok {
					addrs = append(addrs, ip.Unmap())
				}
			case *dns.AAAA:
				if ip, ok := netip.AddrFromSlice(v.AAAA); ok {
					addrs = append(addrs, ip)
				}
			}
		}
	}
	if len(addrs) > 0 {
		return addrs, dns.RcodeSuccess, nil
	}
	if rcode != dns.RcodeSuccess {
		return nil, rcode, &PhaseError{Phase: PhaseDNS, Class: ClassDNS, Cause: RcodeCause(rcode),
			Err: fmt.Errorf("%s: %s from %s", host, dns.RcodeToString[rcode], server)}
	}
	if firstErr != nil {
		if OwnTimeout(ctx, firstErr) {
			return nil, rcode, &PhaseError{Phase: PhaseDNS, Class: ClassDNS, Cause: CauseTimeout, Err: fmt.Errorf("%s: no answer from %s: %w", host, server, firstErr)}
		}
		return nil, rcode, firstErr
	}
	return nil, rcode, nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// MaxDNSMessage bounds the size of a DNS answer Exchange accepts: a UDP
// answer is read into a 1232-byte buffer (the EDNS0 size it announces),
// and a TCP answer's 2-byte length prefix caps it below 64 KiB.
const MaxDNSMessage = 64 << 10

// Exchange sends one query for name/qtype to server over UDP (with EDNS0),
// retrying over TCP when the answer is truncated. It is bounded by ctx,
// and the answer by MaxDNSMessage.
func Exchange(ctx context.Context, server, name string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.SetEdns0(1232, false)
	c := &dns.Client{Net: "udp", UDPSize: 1232}
	if dl, ok := ctx.Deadline(); ok {
		c.Timeout = time.Until(dl)
	}
	r, _, err := c.ExchangeContext(ctx, m, server)
	if err == nil && r.Truncated {
		c.Net = "tcp"
		r, _, err = c.ExchangeContext(ctx, m, server)
	}
	return r, err
}

func filterFamily(addrs []netip.Addr, o *Options) ([]netip.Addr, error) {
	if !o.IPv4Only && !o.IPv6Only {
		return addrs, nil
	}
	var out []netip.Addr
	for _, a := range addrs {
		if (o.IPv4Only && a.Is4()) || (o.IPv6Only && a.Is6()) {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return nil, Errorf(PhaseDNS, ClassDNS, CauseNoAddress, "no %s address among %v", familyWord(o), addrs)
	}
	return out, nil
}

// listAddrs formats the first MaxListedAddrs of a and counts the rest.
func listAddrs(a []netip.Addr) (list []string, omitted int) {
	if len(a) > MaxListedAddrs {
		a, omitted = a[:MaxListedAddrs], len(a)-MaxListedAddrs
	}
	list = make([]string, len(a))
	for i, x := range a {
		list[i] = x.String()
	}
	return list, omitted
}

// permit returns addrs without the ones Options.DenyNetworks covers,
// recording those in Result.Conn.Denied. When none is left it fails
// (phase connect, class connect, cause address_denied) naming the denied
// addresses; host, when known, names what they belong to.
func (d *Dialer) permit(host string, addrs []netip.Addr) ([]netip.Addr, error) {
	deny := d.Opts.DenyNetworks
	if len(deny) == 0 || len(addrs) == 0 {
		return addrs, nil
	}
	var kept []netip.Addr
	var denied []string
	for _, a := range addrs {
		n, ok := deniedBy(deny, a)
		if !ok {
			kept = append(kept, a)
			continue
		}
		info := d.conn()
		if len(info.Denied) < MaxListedAddrs {
			info.Denied = append(info.Denied, DeniedAddr{Addr: a.String(), Network: n.String()})
			denied = append(denied, a.String()+" ("+n.String()+")")
		} else {
			info.DeniedOmitted++
		}
	}
	if len(kept) > 0 {
		return kept, nil
	}
	what := "every address"
	if host != "" {
		what += " of " + host
	}
	list := strings.Join(denied, ", ")
	if more := len(addrs) - len(denied); more > 0 {
		list += fmt.Sprintf(" and %d more", more)
	}
	return nil, Errorf(PhaseConnect, ClassConnect, CauseAddressDenied, "%s is in a denied network: %s", what, list)
}

// deniedBy returns the first network of deny that covers a. Addresses and
// networks are compared unmapped and without zone, so neither
// ::ffff:127.0.0.1 nor fe80::1%eth0 slips past 127.0.0.0/8 or fe80::/10.
func deniedBy(deny []netip.Prefix, a netip.Addr) (netip.Prefix, bool) {
	a = a.Unmap().WithZone("")
	for _, n := range deny {
		p := n
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		if p.Contains(a) {
			return n, true
		}
	}
	return netip.Prefix{}, false
}

// interleave orders addresses by alternating families, starting with the
// family of the first address (RFC 8305 §4).
func interleave(addrs []netip.Addr) []netip.Addr {
	if len(addrs) < 2 {
		return addrs
	}
	first := addrs[0].Is4()
	var a, b []netip.Addr
	for _, x := range addrs {
		if x.Is4() == first {
			a = append(a, x)
		} else {
			b = append(b, x)
		}
	}
	out := make([]netip.Addr, 0, len(addrs))
	for len(a) > 0 || len(b) > 0 {
		if len(a) > 0 {
			out, a = append(out, a[0]), a[1:]
		}
		if len(b) > 0 {
			out, b = append(out, b[0]), b[1:]
		}
	}
	return out
}

// connectOrder is the order a connect tries addrs in: interleaved, and at
// most MaxConnectAddrs of them.
func connectOrder(addrs []netip.Addr) []netip.Addr {
	if len(addrs) <= MaxConnectAddrs {
		return interleave(addrs)
	}
	// Interleaving uses at most MaxConnectAddrs of each family: keep
	// those, in answer order, and drop the rest before ordering.
	kept := make([]netip.Addr, 0, 2*MaxConnectAddrs)
	var n4, n6 int
	for _, a := range addrs {
		n := &n6
		if a.Is4() {
			n = &n4
		}
		if *n < MaxConnectAddrs {
			*n++
			kept = append(kept, a)
		}
	}
	out := interleave(kept)
	if len(out) > MaxConnectAddrs {
		out = out[:MaxConnectAddrs]
	}
	return out
}

// Connect opens a TCP connection to one of addrs (phase connect), racing
// attempts Happy-Eyeballs style: the next address starts when the previous
// one fails or after FallbackDelay. It tries at most MaxConnectAddrs of
// them, never one that Options.DenyNetworks covers. Every attempt is
// recorded in Result.Conn.Attempts. All attempt goroutines have ended when
// it returns.
func (d *Dialer) Connect(ctx context.Context, addrs []netip.Addr, port int) (*Conn, error) {
	addrs, err := d.permit("", addrs)
	if err != nil {
		return nil, err
	}
	addrs = connectOrder(addrs)
	d.Rec.Begin(PhaseConnect)
	info := d.conn()

	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	r := &connectRace{d: d, ctx: ctx, actx: actx, addrs: addrs, port: port, info: info, base: len(info.Attempts),
		results: make(chan connectOutcome, len(addrs)), starts: make([]time.Time, len(addrs))}
	r.race()
	// Stop the losers and wait for them: no goroutine outlives Connect.
	cancel()
	r.drain()
	d.Rec.End(PhaseConnect)
	if r.winner == nil {
		lastErr := r.lastErr
		if lastErr == nil {
			lastErr = ctx.Err()
		}
		return nil, Classify(ctx, PhaseConnect, ClassConnect, lastErr)
	}
	c := NewConn(r.winner, d.Opts.wireCap())
	info.RemoteAddr = r.winner.RemoteAddr().String()
	info.LocalAddr = r.winner.LocalAddr().String()
	if ap, err := netip.ParseAddrPort(info.RemoteAddr); err == nil && ap.Addr().Is6() && !ap.Addr().Is4In6() {
		info.IPVersion = 6
	} else {
		info.IPVersion = 4
	}
	return c, nil
}

// connectRace is the attempts of one Connect: started in order, raced,
// and each recorded in info.Attempts.
type connectRace struct {
	d     *Dialer
	ctx   context.Context // Connect's: its end is not an attempt's own cancel
	actx  context.Context // the attempts': cancelled when the race is over
	addrs []netip.Addr
	port  int
	info  *ConnInfo
	base  int // index in info.Attempts of the first attempt

	results  chan connectOutcome
	starts   []time.Time // per address, when its attempt started
	next     int         // the next address to try
	inflight int
	winner   net.Conn
	lastErr  error
}

// connectOutcome is how the attempt at addrs[i] ended.
type connectOutcome struct {
	i    int
	c    net.Conn
	err  error
	done time.Time
}

// start starts the attempt at the next address.
func (r *connectRace) start() {
	i := r.next
	r.next++
	r.inflight++
	r.starts[i] = r.d.Rec.Now()
	addr := netip.AddrPortFrom(r.addrs[i], uint16(r.port)).String()
	r.info.Attempts = append(r.info.Attempts, ConnectAttempt{Addr: addr, StartMS: r.d.Rec.Since(r.starts[i])})
	go func() {
		var nd net.Dialer
		c, err := nd.DialContext(r.actx, "tcp", addr)
		r.results <- connectOutcome{i, c, err, r.d.Rec.Now()}
	}()
}

// race runs the attempts until one connects or all have failed, starting
// the next one on a failure or after FallbackDelay.
func (r *connectRace) race() {
	r.start()
	timer := time.NewTimer(FallbackDelay)
	defer timer.Stop()
	for r.winner == nil && r.inflight > 0 {
		select {
		case o := <-r.results:
			r.inflight--
			r.record(o)
			if o.err == nil {
				r.winner = o.c
				break
			}
			r.lastErr = o.err
			if r.next < len(r.addrs) && r.ctx.Err() == nil {
				r.start()
				timer.Reset(FallbackDelay)
			}
		case <-timer.C:
			if r.next < len(r.addrs) {
				r.start()
				timer.Reset(FallbackDelay)
			}
		}
	}
}

// drain waits for the attempts still running once actx is cancelled,
// closes any that connected anyway and records them as canceled.
func (r *connectRace) drain() {
	for ; r.inflight > 0; r.inflight-- {
		o := <-r.results
		if o.err == nil {
			o.c.Close()
			o.err = errors.New("lost the race")
		}
		r.record(o)
		r.info.Attempts[r.base+o.i].Canceled = true
	}
}

// record fills the attempt of o: its duration and error, and whether it
// was canceled (it lost to the winner, or the race cancelled it).
func (r *connectRace) record(o connectOutcome) {
	a := &r.info.Attempts[r.base+o.i]
	a.DurationMS = ms(o.done.Sub(r.starts[o.i]))
	if o.err != nil {
		if r.winner != nil || (errors.Is(o.err, context.Canceled) && r.ctx.Err() == nil) {
			a.Canceled = true
		}
		a.Error = shortErr(o.err)
	}
}

func (d *Dialer) conn() *ConnInfo {
	if d.Res.Conn == nil {
		d.Res.Conn = &ConnInfo{}
	}
	return d.Res.Conn
}

// DialTCP resolves host and connects to it: the dns and connect phases.
func (d *Dialer) DialTCP(ctx context.Context, host string, port int) (*Conn, error) {
	addrs, err := d.Resolve(ctx, host, port)
	if err != nil {
		return nil, err
	}
	return d.Connect(ctx, addrs, port)
}

func shortErr(err error) string {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err.Error()
	}
	return err.Error()
}

func (o *Options) wireCap() int64 {
	return 2*o.maxBody() + 64<<20
}

// ErrReadCap is returned when a connection has read more bytes than the
// probe allows (a hostile or runaway peer).
var ErrReadCap = errors.New("read cap reached: the server sent more than the probe allows")

// Conn wraps a net.Conn to count bytes and timestamp the first read, and
// to stop reading past a cap so a hostile server cannot grow memory
// without bound.
type Conn struct {
	net.Conn
	addrs    atomic.Pointer[[2]string] // remote and local, formatted once
	cap      int64
	read     atomic.Int64
	written  atomic.Int64
	first    atomic.Int64 // unix nanos of the first read, 0 before it
	lastRead atomic.Int64 // unix nanos of the last read
}

// NewConn wraps c with a read cap (0 = unlimited).
func NewConn(c net.Conn, cap int64) *Conn { return &Conn{Conn: c, cap: cap} }

func (c *Conn) Read(p []byte) (int, error) {
	if c.cap > 0 {
		left := c.cap - c.read.Load()
		if left <= 0 {
			return 0, ErrReadCap
		}
		if int64(len(p)) > left {
			p = p[:left]
		}
	}
	n, err := c.Conn.Read(p)
	if n > 0 {
		now := time.Now().UnixNano()
		c.read.Add(int64(n))
		c.lastRead.Store(now)
		c.first.CompareAndSwap(0, now)
	}
	return n, err
}

func (c *Conn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.written.Add(int64(n))
	return n, err
}

// Addrs returns the remote and local addresses as strings, formatted on
// the first call only (a reused connection reports them on every request).
func (c *Conn) Addrs() (remote, local string) {
	if a := c.addrs.Load(); a != nil {
		return a[0], a[1]
	}
	a := &[2]string{addrString(c.Conn.RemoteAddr()), addrString(c.Conn.LocalAddr())}
	c.addrs.Store(a)
	return a[0], a[1]
}

// ConnAddrs returns c's remote and local addresses as strings, cached
// when c is (or wraps, through NetConn) a *Conn.
func ConnAddrs(c net.Conn) (remote, local string) {
	for range 4 {
		switch x := c.(type) {
		case *Conn:
			return x.Addrs()
		case interface{ NetConn() net.Conn }:
			c = x.NetConn()
			continue
		}
		break
	}
	return addrString(c.RemoteAddr()), addrString(c.LocalAddr())
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// BytesRead and BytesWritten count the wire bytes so far.
func (c *Conn) BytesRead() int64 { return c.read.Load() }

// BytesWritten counts bytes written to the connection.
func (c *Conn) BytesWritten() int64 { return c.written.Load() }

// AddrPortString formats host and port for dialing.
func AddrPortString(host string, port int) string {
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// ConnInfo returns Result.Conn, creating it when absent.
func (d *Dialer) ConnInfo() *ConnInfo { return d.conn() }
