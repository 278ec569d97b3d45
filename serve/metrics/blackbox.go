package metrics

import (
	"hash/fnv"
	"math"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pathlens/pathlens/probe"
)

// blackboxHTTPPhases are the phase label values of
// probe_http_duration_seconds, in blackbox_exporter's order. All five are
// always exported for http probes (0 where the phase did not happen), as
// blackbox does.
var blackboxHTTPPhases = []string{"resolve", "connect", "tls", "processing", "transfer"}

// blackboxPhase maps a pathlens http phase to blackbox's. blackbox's
// "processing" runs from having the connection to the first response byte,
// i.e. pathlens's request + wait.
var blackboxPhase = map[string]string{
	probe.PhaseDNS:      "resolve",
	probe.PhaseConnect:  "connect",
	probe.PhaseTLS:      "tls",
	probe.PhaseRequest:  "processing",
	probe.PhaseWait:     "processing",
	probe.PhaseTransfer: "transfer",
}

// BlackboxRegistry returns a fresh registry (one per /probe request, as
// blackbox_exporter does) holding one Result in blackbox_exporter's metric
// names and semantics, plus pathlens_finding_active{id,severity}. A nil
// Result exports probe_success 0.
//
// What is exported, as blackbox does:
//   - always: probe_success, probe_duration_seconds, probe_timeout_seconds
//     (the probe's budget), probe_dns_lookup_time_seconds (the target's
//     name resolution; 0 for an IP literal or a dns probe),
//     probe_ip_protocol (4, 6 or 0 if unknown) and probe_ip_addr_hash
//     (fnv32a of the address probed, see probedAddr; 0 if unknown);
//   - http, https, tcp and tls probes: probe_failed_due_to_regex (1 when
//     an assertion failed, ASSERTION_FAILED; pathlens has no regexps);
//   - http and https probes: probe_http_duration_seconds{phase} (all five
//     phases, summed over redirect hops), probe_http_status_code,
//     probe_http_version, probe_http_content_length (-1 when the response
//     gave none, 0 without a response), probe_http_uncompressed_body_length,
//     probe_http_redirects, probe_http_ssl;
//   - icmp probes: probe_icmp_duration_seconds{phase=resolve|setup|rtt}
//     (all three, as blackbox; setup is 0 as pathlens does not time the
//     socket setup, and rtt is the mean round trip of the replies that
//     arrived — blackbox sends a single echo — or 0 when none did);
//   - dns probes: blackbox's dns prober series (blackboxDNS);
//   - when a TLS handshake completed (final hop for http): probe_tls_version_info,
//     probe_tls_cipher_info, probe_ssl_earliest_cert_expiry (earliest
//     NotAfter of the chain as sent), probe_ssl_last_chain_expiry_timestamp_seconds
//     (earliest NotAfter of the verified chain; absent when the chain was
//     not verified, e.g. --insecure, exactly like blackbox) and
//     probe_ssl_last_chain_info (the leaf's facts).
//
// Durations are seconds computed from the Result's whole microseconds, so
// they print as short as Prometheus prints any float (49.431 ms is
// 0.049431, not 49.431/1000 = 0.049430999999999996).
//
// Not exported (yet): probe_icmp_reply_hop_limit and
// probe_http_last_modified_timestamp_seconds — pathlens does not record
// what they need.
func BlackboxRegistry(r *probe.Result) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	if r == nil {
		r = &probe.Result{}
	}
	gauge(reg, "probe_success", "Displays whether or not the probe was a success", boolFloat(r.Success))
	gauge(reg, "probe_duration_seconds", "Returns how long the probe took to complete in seconds", micros(r.TotalMS))
	gauge(reg, "probe_timeout_seconds", "Returns how long the probe timeout is in seconds", micros(r.TimeoutMS))
	gauge(reg, "probe_dns_lookup_time_seconds", "Returns the time taken for probe dns lookup in seconds", micros(firstLookupMS(r)))
	addr, ok := probedAddr(r)
	ipv, hash := 0, 0.0
	if ok {
		ipv, hash = 6, ipHash(addr)
		if addr.Is4() {
			ipv = 4
		}
	}
	if r.Conn != nil && r.Conn.IPVersion != 0 {
		ipv = r.Conn.IPVersion
	}
	gauge(reg, "probe_ip_protocol", "Specifies whether probe ip protocol is IP4 or IP6", float64(ipv))
	gauge(reg, "probe_ip_addr_hash", "Specifies the hash of IP address. It's useful to detect if the IP address changes.", hash)

	switch r.Kind {
	case "http", "https":
		blackboxHTTP(reg, r)
	case "icmp":
		blackboxICMP(reg, r)
	case "grpc", "grpcs":
		blackboxGRPC(reg, r)
	case "dns":
		blackboxDNS(reg, r)
	}
	switch r.Kind {
	case "http", "https", "tcp", "tls": // blackbox's http and tcp probers
		gauge(reg, "probe_failed_due_to_regex", "Indicates if probe failed due to regex", boolFloat(hasFinding(r, idAssertionFailed)))
	}
	if tlsDone(r) {
		blackboxTLS(reg, r.TLS)
	}

	fv := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: NameFindingActive,
		Help: "1 for each finding this probe shows.",
	}, []string{"id", "severity"})
	reg.MustRegister(fv)
	for _, f := range r.Findings {
		if f.ID != "" {
			fv.WithLabelValues(f.ID, string(f.Severity)).Set(1)
		}
	}
	return reg
}

// idAssertionFailed is the finding of a failed user assertion: pathlens's
// counterpart of a blackbox fail_if_*_matches_regexp that failed.
const idAssertionFailed = "ASSERTION_FAILED"

func hasFinding(r *probe.Result, id string) bool {
	for _, f := range r.Findings {
		if f.ID == id {
			return true
		}
	}
	return false
}

func blackboxHTTP(reg *prometheus.Registry, r *probe.Result) {
	dur := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "probe_http_duration_seconds",
		Help: "Duration of http request by phase, summed over all redirects",
	}, []string{"phase"})
	reg.MustRegister(dur)
	sums := map[string]int64{} // µs: exact, and short once in seconds
	add := func(ps []probe.Phase) {
		for _, p := range ps {
			// Like blackbox, a phase that never finished adds nothing.
			if bp, ok := blackboxPhase[p.Name]; ok && !p.Incomplete {
				sums[bp] += usOf(p.DurationMS)
			}
		}
	}
	var status, version, contentLength, body, redirects float64
	if h := r.HTTP; h != nil {
		for _, hop := range h.Redirects {
			add(hop.Phases)
		}
		redirects = float64(len(h.Redirects))
		body = float64(h.BodyBytes)
		if h.Status != 0 { // a response arrived
			status = float64(h.Status)
			contentLength = float64(h.ContentLength)
			version = httpVersion(h.Proto)
		}
	}
	add(r.Phases)
	for _, p := range blackboxHTTPPhases {
		dur.WithLabelValues(p).Set(usSeconds(sums[p]))
	}
	gauge(reg, "probe_http_content_length", "Length of http content response", contentLength)
	gauge(reg, "probe_http_uncompressed_body_length", "Length of uncompressed response body", body)
	gauge(reg, "probe_http_redirects", "The number of redirects", redirects)
	gauge(reg, "probe_http_ssl", "Indicates if SSL was used for the final redirect", boolFloat(tlsDone(r)))
	gauge(reg, "probe_http_status_code", "Response HTTP status code", status)
	gauge(reg, "probe_http_version", "Returns the version of HTTP of the probe response", version)
}

func blackboxICMP(reg *prometheus.Registry, r *probe.Result) {
	dur := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "probe_icmp_duration_seconds",
		Help: "Duration of icmp request by phase",
	}, []string{"phase"})
	reg.MustRegister(dur)
	dur.WithLabelValues("resolve").Set(micros(firstLookupMS(r)))
	dur.WithLabelValues("setup")
	rtt := dur.WithLabelValues("rtt")
	if r.ICMP != nil && r.ICMP.Received > 0 {
		rtt.Set(micros(r.ICMP.AvgMS))
	}
}

func blackboxTLS(reg *prometheus.Registry, t *probe.TLSInfo) {
	tv := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "probe_tls_version_info",
		Help: "Contains the TLS version used",
	}, []string{"version"})
	reg.MustRegister(tv)
	tv.WithLabelValues(t.Version).Set(1)
	cv := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "probe_tls_cipher_info",
		Help: "Returns the TLS cipher negotiated during handshake",
	}, []string{"cipher"})
	reg.MustRegister(cv)
	cv.WithLabelValues(t.Cipher).Set(1)
	if ts, ok := earliestNotAfter(t.Chain); ok {
		gauge(reg, "probe_ssl_earliest_cert_expiry", "Returns earliest SSL cert expiry in unixtime", ts)
	}
	if ts, ok := earliestNotAfter(t.VerifiedChain); ok {
		gauge(reg, "probe_ssl_last_chain_expiry_timestamp_seconds", "Returns last SSL chain expiry in timestamp seconds", ts)
	}
	if len(t.Chain) > 0 {
		// blackbox describes the first certificate the server sent
		// (PeerCertificates[0]), verified or not.
		leaf := t.Chain[0]
		iv := prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "probe_ssl_last_chain_info",
			Help: "Contains SSL leaf certificate information",
		}, []string{"fingerprint_sha256", "subject", "issuer", "subjectalternative", "serialnumber"})
		reg.MustRegister(iv)
		iv.WithLabelValues(leaf.SHA256, leaf.Subject, leaf.Issuer, strings.Join(leaf.DNSNames, ","), leaf.Serial).Set(1)
	}
}

// tlsDone reports whether the (final) connection completed a TLS handshake.
// A handshake that failed (including pathlens's own verification) leaves
// no negotiated version, and blackbox exports no ssl series then either.
func tlsDone(r *probe.Result) bool {
	return r.TLS != nil && r.TLS.Version != ""
}

// firstLookupMS is the resolution of the target's own name: the first hop's
// dns phase (blackbox times only that lookup in probe_dns_lookup_time_seconds).
func firstLookupMS(r *probe.Result) float64 {
	phases := r.Phases
	if r.HTTP != nil && len(r.HTTP.Redirects) > 0 {
		phases = r.HTTP.Redirects[0].Phases
	}
	for _, p := range phases {
		if p.Name == probe.PhaseDNS && !p.Incomplete {
			return p.DurationMS
		}
	}
	return 0
}

// probedAddr is the address blackbox's probe_ip_addr_hash and
// probe_ip_protocol describe: the one the probe connected to (the final
// hop's, for http; blackbox's is the target's own, before redirects),
// else the first it tried, else the first its resolution gave; the
// server of a dns probe when written as an address (a server named by
// host name is resolved inside the query, unrecorded); the address an
// icmp probe pinged.
func probedAddr(r *probe.Result) (netip.Addr, bool) {
	if c := r.Conn; c != nil {
		if ap, err := netip.ParseAddrPort(c.RemoteAddr); err == nil {
			return ap.Addr().Unmap(), true
		}
		if len(c.Attempts) > 0 {
			if ap, err := netip.ParseAddrPort(c.Attempts[0].Addr); err == nil {
				return ap.Addr().Unmap(), true
			}
		}
	}
	if r.ICMP != nil {
		if a, err := netip.ParseAddr(r.ICMP.Addr); err == nil {
			return a.Unmap(), true
		}
	}
	if d := r.DNS; d != nil {
		if r.Kind == "dns" {
			// Addrs are the answer here, not the server.
			if host, _, err := net.SplitHostPort(d.Server); err == nil {
				if a, err := netip.ParseAddr(host); err == nil {
					return a.Unmap(), true
				}
			}
			return netip.Addr{}, false
		}
		if len(d.Addrs) > 0 {
			if a, err := netip.ParseAddr(d.Addrs[0]); err == nil {
				return a.Unmap(), true
			}
		}
	}
	return netip.Addr{}, false
}

// ipHash is blackbox's probe_ip_addr_hash: FNV-1a (32 bits) of the
// address's 4 bytes (IPv4) or 16 bytes (IPv6).
func ipHash(a netip.Addr) float64 {
	h := fnv.New32a()
	if a.Is4() {
		b := a.As4()
		h.Write(b[:])
	} else {
		b := a.As16()
		h.Write(b[:])
	}
	return float64(h.Sum32())
}

// usOf is a Result duration (milliseconds, rounded to the µs) in whole
// microseconds; usSeconds turns those into seconds. Summing whole
// microseconds and dividing once keeps a sum as short as its parts.
func usOf(ms float64) int64 { return int64(math.Round(ms * 1000)) }

func usSeconds(us int64) float64 { return float64(us) / 1e6 }

// httpVersion turns "HTTP/1.1" into 1.1 and "HTTP/2.0" into 2, as blackbox
// does (ProtoMajor + ProtoMinor/10); 0 when unparsable.
func httpVersion(proto string) float64 {
	v, err := strconv.ParseFloat(strings.TrimPrefix(proto, "HTTP/"), 64)
	if err != nil {
		return 0
	}
	return v
}

// earliestNotAfter is the earliest NotAfter of a chain as a Unix timestamp.
func earliestNotAfter(chain []probe.Cert) (float64, bool) {
	var best int64
	found := false
	for _, c := range chain {
		if c.NotAfter.IsZero() {
			continue
		}
		if ts := c.NotAfter.Unix(); !found || ts < best {
			best, found = ts, true
		}
	}
	return float64(best), found
}

func gauge(reg *prometheus.Registry, name, help string, v float64) {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	g.Set(v)
	reg.MustRegister(g)
}
