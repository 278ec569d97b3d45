// Package probe holds the Result every probe produces (docs/result.md), the
// phase recorder that times it, the options every probe kind understands,
// and the shared dial path (resolve → connect → TLS) that the per-protocol
// probers build on. Probers never touch metrics, storage or templates: each
// consumer derives its own view from a Result.
package probe

import "time"

// Schema is the value of Result.Schema; it changes only on a breaking change.
const Schema = "pathlens/v1"

// Phase names used in Result.Phases (docs/result.md).
const (
	PhaseRedirect = "redirect" // all redirect hops before the final request (like curl's time_redirect)
	PhaseDNS      = "dns"
	PhaseConnect  = "connect"
	PhaseTLS      = "tls"
	PhaseRequest  = "request"
	PhaseWait     = "wait"
	PhaseTransfer = "transfer"
	PhaseQuery    = "query"
	PhaseEcho     = "echo"
	PhaseStream   = "stream"
	PhaseUpgrade  = "upgrade"
	PhaseHold     = "hold"
)

// Phases lists every phase name in display order: the order legends and
// charts list phases in when a page shows several kinds together. Which
// phases one kind's Results hold, in the order they happen, is that
// kind's Kind.Phases (LookupKind).
var Phases = []string{
	PhaseRedirect, PhaseDNS, PhaseConnect, PhaseTLS, PhaseRequest,
	PhaseUpgrade, PhaseWait, PhaseTransfer, PhaseStream, PhaseHold,
	PhaseQuery, PhaseEcho,
}

// Severity ranks a Finding. Higher is worse.
type Severity string

// Severities, from least to most serious.
const (
	SeverityInfo     Severity = "info"
	SeverityWarning  Severity = "warning"
	SeverityCritical Severity = "critical"
)

// Rank orders severities for sorting and exit codes: info 1, warning 2,
// critical 3, anything unknown 0.
func (s Severity) Rank() int {
	switch s {
	case SeverityInfo:
		return 1
	case SeverityWarning:
		return 2
	case SeverityCritical:
		return 3
	}
	return 0
}

// Finding is one diagnosis: what is wrong, the measured facts behind it and
// what to change. IDs are fixed by the contract's catalogue (docs/findings.md).
type Finding struct {
	ID       string         `json:"id"`
	Severity Severity       `json:"severity"`
	Phase    string         `json:"phase,omitempty"`
	Summary  string         `json:"summary"`
	Evidence map[string]any `json:"evidence,omitempty"`
	Advice   string         `json:"advice"`
}

// Result is everything one probe measured. It is a plain value: probers
// fill it, diagnose adds Findings, and output, storage, metrics and the UI
// each read it. Blocks that do not apply to the probe kind are nil and
// omitted from JSON.
type Result struct {
	Schema    string     `json:"schema"`
	Target    string     `json:"target"`
	Kind      string     `json:"kind"`
	StartedAt time.Time  `json:"started_at"`
	Success   bool       `json:"success"`
	Error     *ErrorInfo `json:"error"` // nil (JSON null) on success
	TotalMS   float64    `json:"total_ms"`
	// TimeoutMS is the probe's whole budget, so a timeout can say how
	// much time it had.
	TimeoutMS float64 `json:"timeout_ms,omitempty"`
	Phases    []Phase `json:"phases"`

	DNS  *DNSInfo  `json:"dns,omitempty"`
	Conn *ConnInfo `json:"conn,omitempty"`
	TLS  *TLSInfo  `json:"tls,omitempty"`
	HTTP *HTTPInfo `json:"http,omitempty"`
	ICMP *ICMPInfo `json:"icmp,omitempty"`
	// H2 is the HTTP/2 frame timeline (probe/h2tap); set whenever the
	// probe spoke HTTP/2 on a connection it dialed (types in h2.go).
	H2 *H2Info `json:"h2,omitempty"`
	// GRPC describes a grpc/grpcs probe's call (types in grpc.go).
	GRPC *GRPCInfo `json:"grpc,omitempty"`
	// WS describes a ws/wss probe's session (types in ws.go).
	WS *WSInfo `json:"ws,omitempty"`

	Findings []Finding `json:"findings"`

	// Body is the final HTTP response's body, at most MaxBody bytes, kept
	// only when Options.EffectiveKeepBody says so (nil otherwise). It is
	// never serialised, and engine.Check drops it once the assertions
	// have read it, so it reaches no output, storage or metrics.
	Body []byte `json:"-"`
}

// Phase is one timed step of a probe, in milliseconds relative to
// Result.StartedAt, measured on the monotonic clock.
type Phase struct {
	Name       string  `json:"name"`
	StartMS    float64 `json:"start_ms"`
	DurationMS float64 `json:"duration_ms"`
	// Incomplete is true when the phase was still in flight as the probe
	// ended (timeout, cancel or error); DurationMS is then the time spent so far.
	Incomplete bool `json:"incomplete,omitempty"`
}

// ErrorInfo is the JSON form of a failed probe's error (docs/result.md).
type ErrorInfo struct {
	Class   ErrorClass `json:"class"`
	Phase   string     `json:"phase,omitempty"`
	Message string     `json:"message"`
	// Cause is a short machine-readable cause where one is known, one of
	// Causes: CauseNXDomain, CauseRefused, CauseVerifyUnknownAuthority, …
	Cause Cause `json:"cause,omitempty"`
}

// DNSInfo describes the name resolution of the probe (or, for dns probes,
// the query itself).
type DNSInfo struct {
	Name   string   `json:"name"`
	Server string   `json:"server,omitempty"` // "system" when the system resolver was used
	Type   string   `json:"type,omitempty"`   // query type for dns probes
	Rcode  string   `json:"rcode,omitempty"`  // NOERROR, NXDOMAIN, SERVFAIL, …
	Addrs  []string `json:"addrs,omitempty"`
	// AddrsOmitted counts the addresses of the answer left out of Addrs,
	// which lists at most MaxListedAddrs.
	AddrsOmitted int `json:"addrs_omitted,omitempty"`
	// Answers holds the answer records in presentation format (dns
	// probes), at most MaxListedAnswers; AnswersOmitted counts the rest.
	Answers        []string `json:"answers,omitempty"`
	AnswersOmitted int      `json:"answers_omitted,omitempty"`
	// AuthorityRRs and AdditionalRRs count the records of the response's
	// authority and additional sections (dns probes asking a server;
	// the EDNS OPT pseudo-record is not counted). The records themselves
	// are not kept.
	AuthorityRRs  int `json:"authority_rrs,omitempty"`
	AdditionalRRs int `json:"additional_rrs,omitempty"`
	// Source is "literal" (target was an IP), "resolve" (--resolve), "dns"
	// (--dns-server) or "system".
	Source string `json:"source,omitempty"`
}

// MaxListedAnswers is how many answer records a dns probe lists: enough
// for any real answer set, and a hostile server's thousands of records
// cannot blow up the output, the database or the UI.
const MaxListedAnswers = 64

// AddAnswer lists one answer record, or counts it once the list is full.
func (d *DNSInfo) AddAnswer(rr string) {
	if len(d.Answers) >= MaxListedAnswers {
		d.AnswersOmitted++
		return
	}
	d.Answers = append(d.Answers, rr)
}

// AddAddr lists one answer address, or counts it once MaxListedAddrs are listed.
func (d *DNSInfo) AddAddr(a string) {
	if len(d.Addrs) >= MaxListedAddrs {
		d.AddrsOmitted++
		return
	}
	d.Addrs = append(d.Addrs, a)
}

// ConnInfo describes the transport connection that carried the probe.
type ConnInfo struct {
	RemoteAddr string `json:"remote_addr,omitempty"`
	LocalAddr  string `json:"local_addr,omitempty"`
	Reused     bool   `json:"reused"`
	IPVersion  int    `json:"ip_version,omitempty"`
	// Attempts lists every connect attempt in start order; dual-stack
	// fallback shows up as two or more attempts.
	Attempts []ConnectAttempt `json:"attempts,omitempty"`
	// IdleMS is how long a reused connection had been idle (0 when fresh).
	IdleMS float64 `json:"idle_ms,omitempty"`
	// Denied lists the addresses Options.DenyNetworks kept the probe from
	// connecting to, at most MaxListedAddrs; DeniedOmitted counts the rest.
	Denied        []DeniedAddr `json:"denied,omitempty"`
	DeniedOmitted int          `json:"denied_omitted,omitempty"`
}

// DeniedAddr is an address the probe did not connect to and the
// Options.DenyNetworks entry that covers it.
type DeniedAddr struct {
	Addr    string `json:"addr"`
	Network string `json:"network"`
}

// ConnectAttempt is one TCP connect to one address.
type ConnectAttempt struct {
	Addr       string  `json:"addr"`
	StartMS    float64 `json:"start_ms"`
	DurationMS float64 `json:"duration_ms"`
	Error      string  `json:"error,omitempty"` // empty when this attempt connected
	Canceled   bool    `json:"canceled,omitempty"`
}

// TLSInfo holds the negotiated TLS facts and the certificate chain.
type TLSInfo struct {
	Version     string `json:"version,omitempty"`
	Cipher      string `json:"cipher,omitempty"`
	ALPN        string `json:"alpn"`
	SNI         string `json:"sni,omitempty"`
	Resumed     bool   `json:"resumed"`
	OCSPStapled bool   `json:"ocsp_stapled"`
	Verified    bool   `json:"verified"`
	// Curve is the key exchange group (tls.ConnectionState.CurveID:
	// X25519MLKEM768, X25519, CurveP256, …); empty for RSA key exchange
	// and when the handshake failed.
	Curve string `json:"curve,omitempty"`
	// HelloRetryRequest is true when the TLS 1.3 server answered the
	// ClientHello with a HelloRetryRequest (it wanted a key share for a
	// group the client had not sent one for): one more round trip.
	HelloRetryRequest bool `json:"hello_retry_request,omitempty"`
	// OfferedALPN is what the client offered.
	OfferedALPN []string `json:"offered_alpn,omitempty"`
	// Chain is the certificate chain exactly as the server sent it, order kept.
	Chain []Cert `json:"chain"`
	// VerifiedChain is the chain as verified against the trust store in use
	// (leaf first, root last); empty when verification failed.
	VerifiedChain []Cert `json:"verified_chain,omitempty"`
	// TrustStore names the roots used: "system" or the --ca file.
	TrustStore string `json:"trust_store,omitempty"`
	// VerifyError is why verification failed; VerifyReason is the class:
	// hostname, expired, not_yet_valid, unknown_authority, other.
	VerifyError  string `json:"verify_error,omitempty"`
	VerifyReason string `json:"verify_reason,omitempty"`
	// Analysis is pathlens's own reading of the sent chain (Go accepts
	// misordered chains and never fetches missing intermediates).
	Analysis *ChainAnalysis `json:"analysis,omitempty"`
	// VerifyMS is the part of the tls phase pathlens spent verifying the
	// server's certificates (x509 verification, the chain analysis and
	// recording the certificates, or a VerifyCache lookup): CPU time on
	// the client, not the wire. 0 when no certificate was verified.
	VerifyMS float64 `json:"verify_ms,omitempty"`
	// Alert is the TLS alert or low-level cause of a failed handshake.
	Alert string `json:"alert,omitempty"`
	// AlertAfterHandshake is true when Alert arrived after pathlens's side
	// of a TLS 1.3 handshake had finished, as the first record the server
	// sent: a TLS 1.3 client finishes before the server has read its
	// Certificate and Finished, so a server that rejects them (a client
	// certificate required and missing, or not trusted) says so then.
	AlertAfterHandshake bool `json:"alert_after_handshake,omitempty"`
	// ClientCertRequested is true when the server asked for a client
	// certificate (CertificateRequest); ClientCertSent when pathlens had
	// one to send (Options.ClientCert, --cert/--key).
	ClientCertRequested bool `json:"client_cert_requested,omitempty"`
	ClientCertSent      bool `json:"client_cert_sent,omitempty"`
	// HostnameError is set when the certificate does not cover the name
	// asked for, even where verification failed for another reason first.
	HostnameError string `json:"hostname_error,omitempty"`
	// Resumption is the result of a second connection that tried to resume
	// the session; nil when the check was not run.
	Resumption *ResumptionCheck `json:"resumption,omitempty"`
}

// Cert is one certificate's facts.
type Cert struct {
	Subject    string    `json:"subject"`
	Issuer     string    `json:"issuer"`
	NotBefore  time.Time `json:"not_before"`
	NotAfter   time.Time `json:"not_after"`
	SHA256     string    `json:"sha256"`
	Serial     string    `json:"serial,omitempty"` // lower-case hex of the serial number's bytes
	IsCA       bool      `json:"is_ca"`
	SelfSigned bool      `json:"self_signed,omitempty"`
	DNSNames   []string  `json:"dns_names,omitempty"`
	IPs        []string  `json:"ips,omitempty"`
}

// ChainAnalysis is what pathlens worked out from the certificates the
// server sent, independent of Go's verifier.
type ChainAnalysis struct {
	// OrderOK is false when some certificate is not followed by its issuer.
	OrderOK bool `json:"order_ok"`
	// MisorderedAt is the index of the first certificate whose successor
	// is not its issuer (when OrderOK is false).
	MisorderedAt int `json:"misordered_at,omitempty"`
	// PathLen is how many sent certificates chain up from the leaf.
	PathLen int `json:"path_len"`
	// EndsAt is the subject of the last certificate on that path.
	EndsAt string `json:"ends_at,omitempty"`
	// EndsSelfSigned is true when that path ends at a self-signed certificate.
	EndsSelfSigned bool `json:"ends_self_signed"`
	// MissingIssuer is the issuer of the last certificate on the path when
	// that issuer was neither sent nor found in the trust store.
	MissingIssuer string `json:"missing_issuer,omitempty"`
	// IssuerInStore is true when the last certificate's issuer was found in
	// the trust store in use.
	IssuerInStore bool `json:"issuer_in_store"`
	// AIA holds the issuing-certificate URLs of the last certificate.
	AIA []string `json:"aia,omitempty"`
}

// ResumptionCheck is the outcome of a second TLS connection with the first
// connection's session cache.
type ResumptionCheck struct {
	Tested      bool    `json:"tested"`
	Resumed     bool    `json:"resumed"`
	HandshakeMS float64 `json:"handshake_ms,omitempty"`
	Error       string  `json:"error,omitempty"`
	// Carried is true when this run did not test resumption but carries
	// the verdict of an earlier run against the same server and
	// certificate (serve tests again on a cadence); AgeS is that
	// verdict's age in seconds.
	Carried bool    `json:"carried,omitempty"`
	AgeS    float64 `json:"age_s,omitempty"`
}

// HTTPInfo describes the HTTP exchange of the final hop.
type HTTPInfo struct {
	Status        int        `json:"status"`
	Proto         string     `json:"proto"`
	HeadersBytes  int        `json:"headers_bytes"`
	BodyBytes     int64      `json:"body_bytes"`
	ContentLength int64      `json:"content_length"` // -1 when unknown
	Redirects     []Redirect `json:"redirects"`
	// KeepAlive is false when the server closed, or said it would close,
	// the connection after the response (HTTP/1: closed it or sent
	// Connection: close; HTTP/2: sent GOAWAY, H2Info.GoAway).
	KeepAlive bool `json:"keep_alive"`
	// Truncated is true when the body ended before Content-Length or the
	// connection closed mid-body.
	Truncated bool `json:"truncated,omitempty"`
	// BodyLimited is true when reading stopped at MaxBody.
	BodyLimited bool  `json:"body_limited,omitempty"`
	MaxBody     int64 `json:"max_body,omitempty"`
	// ContentEncoding is the encoding the server used (the body is counted decoded).
	ContentEncoding string `json:"content_encoding,omitempty"`
	// ValidStatus is the accepted status range, e.g. "200-399".
	ValidStatus string `json:"valid_status,omitempty"`
}

// Redirect is one hop that answered with a redirect.
type Redirect struct {
	URL      string  `json:"url"`
	Status   int     `json:"status"`
	Location string  `json:"location"`
	StartMS  float64 `json:"start_ms"`
	TotalMS  float64 `json:"total_ms"`
	Reused   bool    `json:"reused"`
	Phases   []Phase `json:"phases,omitempty"`
	// Refused is why Options.CheckRedirect refused to follow this
	// redirect (the probe then ended); empty when it was followed.
	Refused string `json:"refused,omitempty"`
}

// ICMPInfo describes an icmp probe's echo requests and replies. RTTs are
// in milliseconds; the statistics cover the replies that arrived (all zero
// when none did).
type ICMPInfo struct {
	Sent     int     `json:"sent"`
	Received int     `json:"received"`
	LossPct  float64 `json:"loss_pct"`
	MinMS    float64 `json:"min_ms"`
	AvgMS    float64 `json:"avg_ms"`
	MaxMS    float64 `json:"max_ms"`
	StdDevMS float64 `json:"stddev_ms"`
	// RTTsMS holds each reply's round-trip time, in arrival order.
	RTTsMS []float64 `json:"rtts_ms"`
	// Privileged is true when a raw ICMP socket was used, false for an
	// unprivileged ICMP datagram socket (Linux ping_group_range).
	Privileged bool `json:"privileged"`
	// Addr is the address pinged.
	Addr string `json:"addr"`
}

// PhaseDuration returns the duration in ms of the named phase and whether
// it is present.
func (r *Result) PhaseDuration(name string) (float64, bool) {
	for _, p := range r.Phases {
		if p.Name == name {
			return p.DurationMS, true
		}
	}
	return 0, false
}

// WorstSeverity returns the most serious severity among the findings, or
// "" when there are none.
func (r *Result) WorstSeverity() Severity {
	var worst Severity
	for _, f := range r.Findings {
		if f.Severity.Rank() > worst.Rank() {
			worst = f.Severity
		}
	}
	return worst
}
