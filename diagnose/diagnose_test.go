package diagnose

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pathlens/pathlens/probe"
	_ "github.com/pathlens/pathlens/probe/kinds" // the kind registry: failed reads the http kind's phases
)

// docsPath is docs/findings.md relative to this package.
const docsPath = "../docs/findings.md"

// t0 is "now" for every hand-made Result.
var t0 = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)

// emitted records every finding ID any test saw, so TestMain can check
// each against the catalogue and the docs.
var (
	emittedMu sync.Mutex
	emitted   = map[string]bool{}
)

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if code == 0 {
		if err := checkEmitted(); err != nil {
			fmt.Fprintln(os.Stderr, "FAIL: emitted findings:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// checkEmitted: every emitted ID is in Catalogue() and has a section in
// docs/findings.md; on a full run, every catalogue entry was emitted by
// some test (so every rule is exercised).
func checkEmitted() error {
	cat := map[string]bool{}
	for _, e := range Catalogue() {
		cat[e.ID] = true
	}
	docs, err := os.ReadFile(docsPath)
	if err != nil {
		return err
	}
	sections := docSections(string(docs))
	emittedMu.Lock()
	defer emittedMu.Unlock()
	var problems []string
	for id := range emitted {
		if !cat[id] {
			problems = append(problems, id+" is not in Catalogue()")
		}
		if _, ok := sections[id]; !ok {
			problems = append(problems, id+" has no \"## "+id+"\" section in "+docsPath)
		}
	}
	if f := flag.Lookup("test.run"); f != nil && f.Value.String() == "" {
		for id := range cat {
			if !emitted[id] {
				problems = append(problems, id+" is in Catalogue() but no test produced it")
			}
		}
	}
	sort.Strings(problems)
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}

// diag runs Diagnose and checks what must hold for every result: the input
// is left untouched, the slice is non-nil and sorted, every finding is
// complete, JSON-encodable and in the catalogue with its severity.
func diag(t *testing.T, r *probe.Result) []Finding {
	t.Helper()
	before, err := json.Marshal(r)
	if err != nil {
		t.Fatalf("marshal input: %v", err)
	}
	fs := Diagnose(r)
	after, _ := json.Marshal(r)
	if !bytes.Equal(before, after) {
		t.Errorf("Diagnose modified its input:\nbefore %s\nafter  %s", before, after)
	}
	if fs == nil {
		t.Fatalf("Diagnose returned nil, want a non-nil slice")
	}
	entries := map[string]Entry{}
	order := map[string]int{}
	for i, e := range Catalogue() {
		entries[e.ID] = e
		order[e.ID] = i
	}
	seen := map[string]bool{}
	for i, f := range fs {
		e, ok := entries[f.ID]
		if !ok {
			t.Errorf("finding %s is not in Catalogue()", f.ID)
		} else if !slices.Contains(strings.Split(e.Severity, "/"), string(f.Severity)) {
			t.Errorf("%s: severity %q, catalogue says %q", f.ID, f.Severity, e.Severity)
		}
		if seen[f.ID] {
			t.Errorf("%s emitted twice", f.ID)
		}
		seen[f.ID] = true
		if f.Summary == "" || strings.ContainsAny(f.Summary, "\n\r") {
			t.Errorf("%s: summary %q, want one non-empty line", f.ID, f.Summary)
		}
		if f.Advice == "" {
			t.Errorf("%s: empty advice", f.ID)
		}
		if len(f.Evidence) == 0 {
			t.Errorf("%s: no evidence", f.ID)
		}
		if _, err := json.Marshal(f); err != nil {
			t.Errorf("%s: evidence does not encode as JSON: %v", f.ID, err)
		}
		if i > 0 {
			p := fs[i-1]
			pr, fr := p.Severity.Rank(), f.Severity.Rank()
			if pr < fr || (pr == fr && order[p.ID] > order[f.ID]) {
				t.Errorf("findings out of order: %s (%s) before %s (%s)", p.ID, p.Severity, f.ID, f.Severity)
			}
		}
		emittedMu.Lock()
		emitted[f.ID] = true
		emittedMu.Unlock()
	}
	return fs
}

// ids lists the finding IDs in order.
func ids(fs []Finding) []string {
	out := make([]string, 0, len(fs))
	for _, f := range fs {
		out = append(out, f.ID)
	}
	return out
}

// find returns the finding with id, or nil.
func find(fs []Finding, id string) *Finding {
	for i := range fs {
		if fs[i].ID == id {
			return &fs[i]
		}
	}
	return nil
}

// wantIDs fails unless the findings are exactly want, in that order.
func wantIDs(t *testing.T, fs []Finding, want ...string) {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	if got := ids(fs); !slices.Equal(got, want) {
		t.Errorf("findings: got %v, want %v", got, want)
	}
}

// wantEvidence fails unless f's evidence holds each key with the value.
func wantEvidence(t *testing.T, f *Finding, kv map[string]any) {
	t.Helper()
	if f == nil {
		t.Errorf("no finding to check evidence %v on", kv)
		return
	}
	for k, want := range kv {
		got, ok := f.Evidence[k]
		if !ok {
			t.Errorf("%s: evidence %q missing (have %v)", f.ID, k, f.Evidence)
			continue
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: evidence %q: got %v (%T), want %v", f.ID, k, got, got, want)
		}
	}
}

// cert builds a certificate valid from t0+from to t0+to.
func cert(subject, issuer string, from, to time.Duration) probe.Cert {
	return probe.Cert{
		Subject:    subject,
		Issuer:     issuer,
		NotBefore:  t0.Add(from),
		NotAfter:   t0.Add(to),
		SHA256:     fmt.Sprintf("%x", []byte(subject)),
		IsCA:       subject != "CN=app.lab.test",
		SelfSigned: subject == issuer,
	}
}

const (
	leafCN  = "CN=app.lab.test"
	interCN = "CN=pathlens lab intermediate"
	rootCN  = "CN=pathlens lab root"
)

func leafCert() probe.Cert {
	c := cert(leafCN, interCN, -30*day, 60*day)
	c.DNSNames = []string{"app.lab.test", "www.app.lab.test"}
	return c
}
func interCert() probe.Cert { return cert(interCN, rootCN, -365*day, 2*365*day) }
func rootCert() probe.Cert  { return cert(rootCN, rootCN, -5*365*day, 10*365*day) }

// healthy is a fast, verified TLS 1.3 + h2 probe answered 200, whose
// session resumed on the second connection.
func healthy() *probe.Result {
	return &probe.Result{
		Schema:    probe.Schema,
		Target:    "https://app.lab.test:8443/health",
		Kind:      "https",
		StartedAt: t0,
		Success:   true,
		TotalMS:   84.2,
		TimeoutMS: 10000,
		Phases: []probe.Phase{
			{Name: "dns", StartMS: 0, DurationMS: 1.1},
			{Name: "connect", StartMS: 1.1, DurationMS: 20.3},
			{Name: "tls", StartMS: 21.4, DurationMS: 41.0},
			{Name: "request", StartMS: 62.4, DurationMS: 0.1},
			{Name: "wait", StartMS: 62.5, DurationMS: 20.9},
			{Name: "transfer", StartMS: 83.4, DurationMS: 0.8},
		},
		DNS: &probe.DNSInfo{Name: "app.lab.test", Server: "127.0.0.1:5353", Rcode: "NOERROR", Addrs: []string{"127.0.0.1"}, Source: "dns"},
		Conn: &probe.ConnInfo{
			RemoteAddr: "127.0.0.1:8443", LocalAddr: "127.0.0.1:50000", IPVersion: 4,
			Attempts: []probe.ConnectAttempt{{Addr: "127.0.0.1:8443", StartMS: 1.1, DurationMS: 20.3}},
		},
		TLS: &probe.TLSInfo{
			Version: "TLS 1.3", Cipher: "TLS_AES_128_GCM_SHA256", ALPN: "h2", SNI: "app.lab.test",
			Verified: true, OfferedALPN: []string{"h2", "http/1.1"},
			Chain:         []probe.Cert{leafCert(), interCert()},
			VerifiedChain: []probe.Cert{leafCert(), interCert(), rootCert()},
			TrustStore:    "/tmp/lab/ca.pem",
			Analysis:      &probe.ChainAnalysis{OrderOK: true, PathLen: 2, EndsAt: interCN, IssuerInStore: true},
			Resumption:    &probe.ResumptionCheck{Tested: true, Resumed: true, HandshakeMS: 3.2},
		},
		HTTP: &probe.HTTPInfo{
			Status: 200, Proto: "HTTP/2.0", HeadersBytes: 312, BodyBytes: 1024, ContentLength: 1024,
			Redirects: []probe.Redirect{}, KeepAlive: true, ValidStatus: "200-399",
		},
		Findings: []Finding{},
	}
}

// failed turns r into a failed probe: err set, blocks after the failing
// phase removed, the failing phase marked incomplete on a timeout.
func failed(r *probe.Result, class probe.ErrorClass, phase, cause, msg string) *probe.Result {
	r.Success = false
	r.Error = &probe.ErrorInfo{Class: class, Phase: phase, Cause: cause, Message: msg}
	order := httpPhases()
	idx := slices.Index(order, phase)
	if idx >= 0 {
		var kept []probe.Phase
		for _, p := range r.Phases {
			if i := slices.Index(order, p.Name); i <= idx {
				if p.Name == phase && class == probe.ClassTimeout {
					p.Incomplete = true
				}
				kept = append(kept, p)
			}
		}
		r.Phases = kept
		if idx < 3 {
			r.HTTP = nil
		}
		if idx < 2 {
			r.TLS = nil
		}
	}
	return r
}

// httpPhases is the http kind's phases after the redirects: dns, connect,
// tls, request, wait, transfer.
func httpPhases() []string {
	k, ok := probe.LookupKind("http")
	if !ok {
		panic("the http kind is not registered")
	}
	return slices.DeleteFunc(slices.Clone(k.Phases), func(p string) bool { return p == probe.PhaseRedirect })
}

// setPhase sets the named phase's duration, adding the phase if missing.
func setPhase(r *probe.Result, name string, ms float64) {
	for i := range r.Phases {
		if r.Phases[i].Name == name {
			r.Phases[i].DurationMS = ms
			return
		}
	}
	r.Phases = append(r.Phases, probe.Phase{Name: name, DurationMS: ms})
}

func TestHealthyResultHasNoFindings(t *testing.T) {
	r := healthy()
	wantIDs(t, diag(t, r))

	Apply(r)
	if r.Findings == nil || len(r.Findings) != 0 {
		t.Errorf("Apply: got findings %v, want an empty non-nil slice", r.Findings)
	}
	b, _ := json.Marshal(r)
	if !bytes.Contains(b, []byte(`"findings":[]`)) {
		t.Errorf("JSON: got %s, want \"findings\":[]", b)
	}
}

func TestNilResult(t *testing.T) {
	if got := Diagnose(nil); got == nil || len(got) != 0 {
		t.Errorf("Diagnose(nil): got %#v, want empty non-nil slice", got)
	}
	Apply(nil) // must not panic
}

func TestApplyReplacesFindings(t *testing.T) {
	r := healthy()
	r.Findings = []Finding{{ID: "STALE"}}
	r.HTTP.Status = 503
	Apply(r)
	if got := ids(r.Findings); !slices.Equal(got, []string{IDHTTPStatus}) {
		t.Errorf("Apply: got %v, want [HTTP_STATUS]", got)
	}
}

func TestSortWorstFirstThenCatalogueOrder(t *testing.T) {
	r := healthy()
	r.HTTP.Status = 500       // critical
	r.HTTP.Proto = "HTTP/1.1" // …without keep-alive: info
	r.HTTP.KeepAlive = false
	r.TLS.ALPN = "http/1.1"   // info
	r.TLS.Version = "TLS 1.1" // warning
	r.TotalMS = 400
	setPhase(r, "dns", 150) // warning
	fs := diag(t, r)
	wantIDs(t, fs, IDHTTPStatus, IDDNSSlow, IDTLSOldVersion, IDHTTPNoKeepAlive, IDHTTPNoH2)
	for i := 1; i < len(fs); i++ {
		if fs[i-1].Severity.Rank() < fs[i].Severity.Rank() {
			t.Errorf("%s (%s) sorted before %s (%s)", fs[i-1].ID, fs[i-1].Severity, fs[i].ID, fs[i].Severity)
		}
	}
}

func TestDiagnoseIsDeterministic(t *testing.T) {
	mk := func() *probe.Result {
		r := failed(healthy(), probe.ClassTimeout, "connect", "deadline", "dial tcp: i/o timeout")
		r.TotalMS = 10000
		return r
	}
	a, _ := json.Marshal(diag(t, mk()))
	for i := 0; i < 20; i++ {
		b, _ := json.Marshal(Diagnose(mk()))
		if !bytes.Equal(a, b) {
			t.Fatalf("run %d differs:\n%s\n%s", i, a, b)
		}
	}
}

// contractIDs are the IDs and severities docs/findings.md fixes and this
// package implements.
var contractIDs = map[string]string{
	"DNS_FAILED": "critical", "DNS_SLOW": "warning", "TCP_REFUSED": "critical", "TCP_TIMEOUT": "critical",
	"TLS_HANDSHAKE_FAILED": "critical", "TLS_CHAIN_INCOMPLETE": "critical", "TLS_CHAIN_ORDER": "warning",
	"TLS_UNTRUSTED_ROOT": "critical", "TLS_HOSTNAME_MISMATCH": "critical", "TLS_CERT_EXPIRED": "critical",
	"TLS_CERT_EXPIRING": "warning", "TLS_OLD_VERSION": "warning", "TLS_NO_RESUMPTION": "warning",
	"TLS_HANDSHAKE_SLOW": "warning", "TLS_VERIFY_SLOW": "warning", "HTTP_STATUS": "warning/critical", "HTTP_SERVER_SLOW": "warning",
	"HTTP_BODY_TRUNCATED": "critical", "HTTP_BODY_TOO_LARGE": "warning", "HTTP_NO_KEEPALIVE": "info",
	"HTTP_NO_H2": "info", "PROBE_TIMEOUT": "critical", "ICMP_LOSS": "warning/critical",
	"GRPC_STATUS": "critical", "GRPC_STREAM_TRUNCATED": "critical",
	"H2_FLOW_CONTROL_STALL": "warning", "H2_RST_STREAM": "critical", "H2_GOAWAY": "warning",
	"WS_UPGRADE_FAILED": "critical", "WS_AUTH_REJECTED": "critical", "WS_TOKEN_EXPIRED": "warning",
	"WS_ABNORMAL_CLOSE": "critical", "WS_PING_TIMEOUT": "warning",
}

// plannedIDs are in the contract but not built yet.
var plannedIDs = []string{}

func TestCatalogue(t *testing.T) {
	cat := Catalogue()
	byID := map[string]Entry{}
	for _, e := range cat {
		if _, dup := byID[e.ID]; dup {
			t.Errorf("%s listed twice", e.ID)
		}
		byID[e.ID] = e
		if !regexp.MustCompile(`^[A-Z][A-Z0-9_]+$`).MatchString(e.ID) {
			t.Errorf("ID %q is not UPPER_SNAKE", e.ID)
		}
		for _, s := range strings.Split(e.Severity, "/") {
			if probe.Severity(s).Rank() == 0 {
				t.Errorf("%s: severity %q is not info, warning or critical", e.ID, e.Severity)
			}
		}
		if e.Phase == "" || e.Title == "" {
			t.Errorf("%s: phase %q, title %q; want both", e.ID, e.Phase, e.Title)
		}
	}
	for id, sev := range contractIDs {
		t.Run(id, func(t *testing.T) {
			e, ok := byID[id]
			if !ok {
				t.Fatalf("contract finding %s missing from Catalogue()", id)
			}
			if e.Severity != sev {
				t.Errorf("severity: got %q, want %q (fixed by the contract)", e.Severity, sev)
			}
		})
	}
	for _, id := range plannedIDs {
		if _, ok := byID[id]; ok {
			t.Errorf("%s is planned, not built: it must not be in Catalogue() yet", id)
		}
	}
	// Catalogue returns a copy.
	cat[0].ID = "CHANGED"
	if Catalogue()[0].ID == "CHANGED" {
		t.Errorf("Catalogue() exposes its backing array")
	}
}

// docSections maps each "## ID" heading of the docs to its body.
func docSections(doc string) map[string]string {
	out := map[string]string{}
	parts := regexp.MustCompile(`(?m)^## `).Split(doc, -1)
	for _, p := range parts[1:] {
		title, body, _ := strings.Cut(p, "\n")
		out[strings.TrimSpace(title)] = body
	}
	return out
}

func TestDocsMatchCatalogue(t *testing.T) {
	raw, err := os.ReadFile(docsPath)
	if err != nil {
		t.Fatalf("read %s: %v", docsPath, err)
	}
	doc := string(raw)
	sections := docSections(doc)
	cat := map[string]bool{}
	for _, e := range Catalogue() {
		cat[e.ID] = true
		t.Run(e.ID, func(t *testing.T) {
			body, ok := sections[e.ID]
			if !ok {
				t.Fatalf("no \"## %s\" section", e.ID)
			}
			want := fmt.Sprintf("**Severity:** %s · **Phase:** %s", e.Severity, e.Phase)
			if !strings.Contains(body, want) {
				t.Errorf("section does not state %q", want)
			}
			for _, part := range []string{"**What it means.**", "**How pathlens detects it.**", "**How to fix it.**", "**Lab scenario:**"} {
				if !strings.Contains(body, part) {
					t.Errorf("section lacks %s", part)
				}
			}
			row := fmt.Sprintf("| [%s](#%s) | %s | %s |", e.ID, strings.ToLower(e.ID), e.Severity, e.Phase)
			if !strings.Contains(doc, row) {
				t.Errorf("summary table lacks row %q", row)
			}
		})
	}
	idHeading := regexp.MustCompile(`^[A-Z][A-Z0-9_]+$`)
	for title := range sections {
		if idHeading.MatchString(title) && !cat[title] {
			t.Errorf("docs have a section for %s, which Catalogue() does not emit", title)
		}
	}
	planned, ok := sections["Planned"]
	if !ok {
		t.Fatalf("no \"## Planned\" section")
	}
	for _, id := range plannedIDs {
		if !strings.Contains(planned, "`"+id+"`") {
			t.Errorf("Planned section does not list %s", id)
		}
	}
}
