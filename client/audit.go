package client

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"sort"
	"strings"
	"unsafe"

	"github.com/pathlens/pathlens/diagnose"
	"github.com/pathlens/pathlens/probe"
)

// Audit inspects c and its transport and reports what is unsafe about
// them, worst first, each finding with advice (IDs CLIENT_*, see
// Catalogue and docs/library.md). A nil c means http.DefaultClient. It
// never returns nil, does no I/O and does not change c.
//
// Audit follows wrapping transports that have an Unwrap() http.RoundTripper
// method (as *Transport does) down to an *http.Transport.
func Audit(c *http.Client) []diagnose.Finding {
	if c == nil {
		c = http.DefaultClient
	}
	out := []diagnose.Finding{}
	add := func(f diagnose.Finding) { out = append(out, f) }

	var ours *Transport
	var base *http.Transport
	rt := c.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	chain := []string{}
	for range 16 {
		chain = append(chain, fmt.Sprintf("%T", rt))
		if t, ok := rt.(*Transport); ok && ours == nil {
			ours = t
		}
		if t, ok := rt.(*http.Transport); ok {
			base = t
			break
		}
		u, ok := rt.(interface{ Unwrap() http.RoundTripper })
		if !ok {
			break
		}
		if rt = u.Unwrap(); rt == nil {
			break
		}
	}

	requestBound := c.Timeout > 0 || (ours != nil && ours.cfg.timeouts.Request > 0)
	if !requestBound {
		add(diagnose.Finding{
			ID: IDNoTimeout, Severity: probe.SeverityWarning, Phase: "any",
			Summary:  "no overall timeout: Client.Timeout is 0, so a request lasts as long as its context allows — forever with context.Background()",
			Evidence: map[string]any{"client_timeout_ms": 0},
			Advice: "Set Client.Timeout (it covers redirects and the body read) or use client.New, which bounds a request without " +
				"a deadline to 30 s; and give every request a context with a deadline.",
		})
	}
	if base == nil {
		add(diagnose.Finding{
			ID: IDTransportUnknown, Severity: probe.SeverityInfo,
			Summary:  fmt.Sprintf("the transport %s is not an *http.Transport and does not unwrap to one: its settings cannot be checked", strings.Join(chain, " → ")),
			Evidence: map[string]any{"transport": strings.Join(chain, " → ")},
			Advice:   "Give wrapping transports an Unwrap() http.RoundTripper method so the auditor can reach the *http.Transport, or audit that transport directly.",
		})
		return sortFindings(out)
	}
	auditTransport(base, ours, add)
	return sortFindings(out)
}

// auditTransport checks t's settings one after another, each check a
// few lines that add one finding. It stays one function because the
// checks are independent and read top-down as the list of what the
// auditor looks at; splitting it would scatter that list.
func auditTransport(t *http.Transport, ours *Transport, add func(diagnose.Finding)) {
	//lint:ignore SA1019 the auditor reports the deprecated Dial/DialTLS fields that callers still set
	customTLSDial := t.DialTLSContext != nil || t.DialTLS != nil

	// Dial.
	switch {
	case ours != nil && ours.base == t:
		if ours.cfg.timeouts.Dial <= 0 {
			add(noDialTimeout("client.Timeouts.Dial is negative"))
		}
	//lint:ignore SA1019 the auditor reports the deprecated Dial/DialTLS fields that callers still set
	case t.DialContext == nil && t.Dial == nil && !customTLSDial:
		add(noDialTimeout("the transport has no DialContext, so net/http dials with a zero net.Dialer"))
	case t.DialContext != nil && sameFunc(t.DialContext, defaultDial):
		// http.DefaultTransport's dialer (or a Clone of it): 30 s.
	default:
		which := "DialContext"
		if t.DialContext == nil {
			which = "Dial"
		}
		if customTLSDial {
			which = "DialTLSContext"
		}
		add(diagnose.Finding{
			ID: IDDialTimeoutUnknown, Severity: probe.SeverityInfo, Phase: probe.PhaseConnect,
			Summary:  "dial timeout unknown: the transport dials through a custom " + which + " that cannot be inspected",
			Evidence: map[string]any{"dialer": which},
			Advice: "Make sure the dial function bounds connecting, e.g. (&net.Dialer{Timeout: 5 * time.Second}).DialContext, " +
				"or context.WithTimeout around the dial.",
		})
	}

	// TLS handshake.
	if t.TLSHandshakeTimeout <= 0 && !customTLSDial {
		add(diagnose.Finding{
			ID: IDNoTLSHandshakeTimeout, Severity: probe.SeverityWarning, Phase: probe.PhaseTLS,
			Summary:  "no TLS handshake timeout: a server that accepts the connection and stalls mid-handshake holds the request",
			Evidence: map[string]any{"tls_handshake_timeout_ms": 0},
			Advice:   "Set Transport.TLSHandshakeTimeout (client.New uses 5 s).",
		})
	}

	// Response headers.
	if t.ResponseHeaderTimeout <= 0 {
		add(diagnose.Finding{
			ID: IDNoResponseHeaderTimeout, Severity: probe.SeverityWarning, Phase: probe.PhaseWait,
			Summary:  "no response-header timeout: once the request is written, a server that never answers holds it until the overall deadline, if there is one",
			Evidence: map[string]any{"response_header_timeout_ms": 0},
			Advice: "Set Transport.ResponseHeaderTimeout to the longest time the server may think (client.New uses 10 s); " +
				"it bounds time to first byte without cutting off a long body.",
		})
	}

	// Keep-alives and the pool.
	if t.DisableKeepAlives {
		add(diagnose.Finding{
			ID: IDKeepAlivesDisabled, Severity: probe.SeverityWarning, Phase: probe.PhaseConnect,
			Summary:  "keep-alives are disabled: every request dials, handshakes and closes a new connection",
			Evidence: map[string]any{"disable_keep_alives": true},
			Advice: "Leave DisableKeepAlives false and bound idle connections with IdleConnTimeout instead; a connection per " +
				"request costs DNS, TCP and TLS round trips and leaves sockets in TIME_WAIT.",
		})
	} else {
		per := t.MaxIdleConnsPerHost
		eff := per
		if eff <= 0 {
			eff = http.DefaultMaxIdleConnsPerHost
		}
		if eff <= 2 {
			add(diagnose.Finding{
				ID: IDSmallIdlePool, Severity: probe.SeverityWarning, Phase: probe.PhaseConnect,
				Summary:  fmt.Sprintf("at most %d idle connections per host: with more concurrent requests than that, connections are closed after use and dialed again", eff),
				Evidence: map[string]any{"max_idle_conns_per_host": per, "effective": eff},
				Advice: "Set MaxIdleConnsPerHost to the concurrency you expect per host (client.New uses 64) and MaxIdleConns " +
					"to cover all hosts.",
			})
		}
		if t.IdleConnTimeout <= 0 {
			add(diagnose.Finding{
				ID: IDNoIdleConnTimeout, Severity: probe.SeverityWarning, Phase: probe.PhaseConnect,
				Summary:  "no idle-connection timeout: pooled connections are kept until the server closes them, and a request can be sent on one as it closes",
				Evidence: map[string]any{"idle_conn_timeout_ms": 0},
				Advice: "Set IdleConnTimeout below the server's keep-alive timeout (client.New uses 50 s, under the 60 s of " +
					"common load balancers).",
			})
		}
	}

	// Certificate verification.
	if cfg := t.TLSClientConfig; cfg != nil && cfg.InsecureSkipVerify {
		custom := cfg.VerifyPeerCertificate != nil || cfg.VerifyConnection != nil
		f := diagnose.Finding{
			ID: IDInsecureSkipVerify, Severity: probe.SeverityCritical, Phase: probe.PhaseTLS,
			Summary:  "InsecureSkipVerify is set and nothing else verifies certificates: anyone on the path can impersonate the server",
			Evidence: map[string]any{"insecure_skip_verify": true, "custom_verifier": custom},
			Advice: "Remove InsecureSkipVerify. To trust a private CA, put it in TLSClientConfig.RootCAs (or client.WithTLS " +
				"with RootCAs); to pin, use VerifyConnection.",
		}
		if custom {
			f.Severity = probe.SeverityWarning
			f.Summary = "InsecureSkipVerify is set with a custom verifier: the standard chain and name checks are off, only the callback decides"
			f.Advice = "Make sure the callback verifies the chain against roots and the server name (x509.Certificate.Verify " +
				"with DNSName), or drop InsecureSkipVerify and keep the callback for extra checks."
		}
		add(f)
	}

	// HTTP/2.
	if on, deliberate, why := h2State(t); !on {
		f := diagnose.Finding{
			ID: IDH2Disabled, Severity: probe.SeverityWarning, Phase: probe.PhaseTLS,
			Summary:  "HTTP/2 is disabled because " + why + " — net/http turns it off silently in that case",
			Evidence: map[string]any{"reason": why},
			Advice: "Set ForceAttemptHTTP2: true (or Transport.Protocols with HTTP2) when you set a custom TLSClientConfig or " +
				"dialer; client.New keeps HTTP/2 on with health-check pings.",
		}
		if deliberate {
			f.Severity = probe.SeverityInfo
			f.Summary = "HTTP/2 is turned off on purpose (" + why + ")"
			f.Advice = "Fine if intended (e.g. a server with broken HTTP/2); otherwise remove the setting to multiplex requests over fewer connections."
		}
		add(f)
	}

	// Proxy.
	if t.Proxy != nil && reflect.ValueOf(t.Proxy).Pointer() == reflect.ValueOf(http.ProxyFromEnvironment).Pointer() {
		set := proxyEnv()
		f := diagnose.Finding{
			ID: IDProxyFromEnvironment, Severity: probe.SeverityInfo, Phase: probe.PhaseConnect,
			Summary:  "the proxy comes from the environment (HTTP_PROXY, HTTPS_PROXY, NO_PROXY); none is set now",
			Evidence: map[string]any{"proxy": "http.ProxyFromEnvironment"},
			Advice: "If the service should never use a proxy, set Transport.Proxy to nil (client.New does); if it should, " +
				"name it explicitly with http.ProxyURL so a stray variable cannot redirect traffic.",
		}
		if len(set) > 0 {
			f.Severity = probe.SeverityWarning
			f.Summary = "requests go through the proxy named in the environment (" + strings.Join(keys(set), ", ") + ")"
			f.Evidence["env"] = set
		}
		add(f)
	}
}

func noDialTimeout(why string) diagnose.Finding {
	return diagnose.Finding{
		ID: IDNoDialTimeout, Severity: probe.SeverityWarning, Phase: probe.PhaseConnect,
		Summary:  "no dial timeout: " + why + "; a black-holed address holds the request until the OS gives up (about 2 min on Linux)",
		Evidence: map[string]any{"dial_timeout_ms": 0},
		Advice:   "Dial with (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext (client.New does).",
	}
}

// h2State replays net/http's decision (Transport.protocols) on whether
// HTTP/2 is attempted over TLS; deliberate is true when the
// configuration says so outright.
func h2State(t *http.Transport) (on, deliberate bool, why string) {
	if _, ok := t.TLSNextProto["h2"]; ok {
		return true, false, ""
	}
	if t.Protocols != nil {
		if t.Protocols.HTTP2() {
			return true, false, ""
		}
		return false, true, "Transport.Protocols does not include HTTP2"
	}
	if t.TLSNextProto != nil {
		return false, true, "TLSNextProto is set to a map without \"h2\""
	}
	if strings.Contains(os.Getenv("GODEBUG"), "http2client=0") {
		return false, true, "GODEBUG=http2client=0"
	}
	if t.ForceAttemptHTTP2 {
		return true, false, ""
	}
	var custom []string
	if t.TLSClientConfig != nil {
		custom = append(custom, "TLSClientConfig")
	}
	if t.DialContext != nil {
		custom = append(custom, "DialContext")
	}
	//lint:ignore SA1019 the auditor reports the deprecated Dial/DialTLS fields that callers still set
	if t.Dial != nil {
		custom = append(custom, "Dial")
	}
	//lint:ignore SA1019 the auditor reports the deprecated Dial/DialTLS fields that callers still set
	if t.DialTLSContext != nil || t.DialTLS != nil {
		custom = append(custom, "DialTLSContext")
	}
	if len(custom) > 0 {
		return false, false, "the transport sets a custom " + strings.Join(custom, " and ") + " without ForceAttemptHTTP2"
	}
	return true, false, ""
}

// proxyEnv returns the proxy variables set now, credentials redacted.
func proxyEnv() map[string]string {
	out := map[string]string{}
	for _, k := range []string{"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy"} {
		v := os.Getenv(k)
		if v == "" {
			continue
		}
		if u, err := url.Parse(v); err == nil && u.User != nil {
			v = u.Redacted()
		}
		out[k] = v
	}
	if len(out) == 1 && (out["NO_PROXY"] != "" || out["no_proxy"] != "") {
		return nil // NO_PROXY alone sends nothing to a proxy
	}
	if len(out) == 2 && out["NO_PROXY"] != "" && out["no_proxy"] != "" {
		return nil
	}
	return out
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// defaultDial is http.DefaultTransport's dial function as shipped (a
// 30 s net.Dialer), captured at init before anyone can replace it.
var defaultDial = func() func(context.Context, string, string) (net.Conn, error) {
	if t, ok := http.DefaultTransport.(*http.Transport); ok {
		return t.DialContext
	}
	return nil
}()

// sameFunc reports whether a and b are the same func value — the same
// closure, not merely the same code (a Clone of http.DefaultTransport
// keeps its dialer closure). It only compares pointers.
func sameFunc[F any](a, b F) bool {
	pa := *(*unsafe.Pointer)(unsafe.Pointer(&a))
	pb := *(*unsafe.Pointer)(unsafe.Pointer(&b))
	return pa != nil && pa == pb
}

// sortFindings orders worst first, then in catalogue order.
func sortFindings(fs []diagnose.Finding) []diagnose.Finding {
	sort.SliceStable(fs, func(i, j int) bool {
		ri, rj := fs[i].Severity.Rank(), fs[j].Severity.Rank()
		if ri != rj {
			return ri > rj
		}
		return catalogueIndex(fs[i].ID) < catalogueIndex(fs[j].ID)
	})
	return fs
}
