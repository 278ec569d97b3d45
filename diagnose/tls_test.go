package diagnose

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pathlens/pathlens/probe"
)

// verifyFailed marks r as a probe whose certificate check failed with
// reason; the handshake error is class tls, cause verify_<reason>.
func verifyFailed(r *probe.Result, reason string) *probe.Result {
	failed(r, probe.ClassTLS, "tls", "verify_"+reason, "tls: certificate verification failed: "+reason)
	r.TLS.Verified = false
	r.TLS.VerifiedChain = nil
	r.TLS.VerifyReason = reason
	r.TLS.VerifyError = "x509: " + reason
	r.TLS.Version, r.TLS.Cipher, r.TLS.ALPN = "", "", ""
	r.TLS.Resumption = nil
	r.TLS.Alert = "tls: certificate verification failed"
	return r
}

func TestTLSChainIncomplete(t *testing.T) {
	t.Run("leaf only", func(t *testing.T) {
		r := verifyFailed(healthy(), "unknown_authority")
		r.TLS.Chain = []probe.Cert{leafCert()}
		r.TLS.Analysis = &probe.ChainAnalysis{OrderOK: true, PathLen: 1, EndsAt: leafCN, MissingIssuer: interCN,
			AIA: []string{"http://127.0.0.1:9/intermediate.cer"}}
		fs := diag(t, r)
		wantIDs(t, fs, IDTLSChainIncomplete)
		f := &fs[0]
		want := `the server sent only its leaf certificate; the intermediate "CN=pathlens lab intermediate" is missing`
		if f.Summary != want {
			t.Errorf("summary:\ngot  %s\nwant %s", f.Summary, want)
		}
		wantEvidence(t, f, map[string]any{"missing_issuer": interCN, "sent": 1, "aia": []string{"http://127.0.0.1:9/intermediate.cer"}})
		for _, s := range []string{"ssl_certificate", "full-chain", "AIA", "Chrome"} {
			if !strings.Contains(f.Advice, s) {
				t.Errorf("advice lacks %q: %s", s, f.Advice)
			}
		}
	})
	t.Run("leaf plus a certificate that does not issue it, misordered", func(t *testing.T) {
		r := verifyFailed(healthy(), "unknown_authority")
		other := cert("CN=unrelated CA", "CN=unrelated CA", -day, day*400)
		r.TLS.Chain = []probe.Cert{leafCert(), other}
		r.TLS.Analysis = &probe.ChainAnalysis{OrderOK: false, MisorderedAt: 0, PathLen: 1, EndsAt: leafCN, MissingIssuer: interCN}
		fs := diag(t, r)
		wantIDs(t, fs, IDTLSChainIncomplete) // not TLS_CHAIN_ORDER, not TLS_HANDSHAKE_FAILED
		if !strings.Contains(fs[0].Summary, "sent 2 certificates but none of them issues the leaf") {
			t.Errorf("summary: got %q", fs[0].Summary)
		}
		wantEvidence(t, &fs[0], map[string]any{"sent": 2})
	})
	tests := []struct {
		name string
		mod  func(a *probe.ChainAnalysis, ti *probe.TLSInfo)
		want []string
	}{
		{"issuer in store", func(a *probe.ChainAnalysis, _ *probe.TLSInfo) { a.IssuerInStore = true; a.MissingIssuer = "" },
			[]string{IDTLSHandshakeFailed}},
		{"self-signed leaf is untrusted, not incomplete", func(a *probe.ChainAnalysis, _ *probe.TLSInfo) { a.EndsSelfSigned = true; a.MissingIssuer = "" },
			[]string{IDTLSUntrustedRoot}},
		{"path of two is untrusted root, not incomplete", func(a *probe.ChainAnalysis, ti *probe.TLSInfo) {
			a.PathLen = 2
			a.EndsAt = interCN
			a.MissingIssuer = rootCN
			ti.Chain = []probe.Cert{leafCert(), interCert()}
		}, []string{IDTLSUntrustedRoot}},
		{"verified: --insecure or store has it", func(a *probe.ChainAnalysis, ti *probe.TLSInfo) { ti.Verified = true }, []string{IDTLSHandshakeFailed}},
		{"no analysis", func(a *probe.ChainAnalysis, ti *probe.TLSInfo) { ti.Analysis = nil }, []string{IDTLSHandshakeFailed}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := verifyFailed(healthy(), "unknown_authority")
			r.TLS.Chain = []probe.Cert{leafCert()}
			r.TLS.Analysis = &probe.ChainAnalysis{OrderOK: true, PathLen: 1, EndsAt: leafCN, MissingIssuer: interCN}
			tc.mod(r.TLS.Analysis, r.TLS)
			wantIDs(t, diag(t, r), tc.want...)
		})
	}
}

func TestTLSUntrustedRoot(t *testing.T) {
	untrusted := "CN=pathlens lab untrusted root"
	tests := []struct {
		name        string
		chain       []probe.Cert
		analysis    probe.ChainAnalysis
		reason      string
		want        []string
		wantSummary string
	}{
		{"chain ends at a self-signed root not in the store",
			[]probe.Cert{cert(leafCN, interCN, -day, 90*day), cert(interCN, untrusted, -day, 900*day), cert(untrusted, untrusted, -day, 9000*day)},
			probe.ChainAnalysis{OrderOK: true, PathLen: 3, EndsAt: untrusted, EndsSelfSigned: true},
			"unknown_authority", []string{IDTLSUntrustedRoot},
			`the chain ends at the root "CN=pathlens lab untrusted root", which is not in the trust store (/tmp/lab/ca.pem)`},
		{"chain ends at an intermediate whose issuer nobody has",
			[]probe.Cert{leafCert(), interCert()},
			probe.ChainAnalysis{OrderOK: true, PathLen: 2, EndsAt: interCN, MissingIssuer: untrusted},
			"unknown_authority", []string{IDTLSUntrustedRoot},
			`the chain ends at "CN=pathlens lab intermediate", whose issuer "CN=pathlens lab untrusted root" is neither sent nor in the trust store`},
		{"self-signed leaf",
			[]probe.Cert{cert(leafCN, leafCN, -day, 90*day)},
			probe.ChainAnalysis{OrderOK: true, PathLen: 1, EndsAt: leafCN, EndsSelfSigned: true},
			"unknown_authority", []string{IDTLSUntrustedRoot},
			`the server's certificate "CN=app.lab.test" is self-signed`},
		{"other verify reason",
			[]probe.Cert{leafCert(), interCert(), cert(untrusted, untrusted, -day, 9000*day)},
			probe.ChainAnalysis{OrderOK: true, PathLen: 3, EndsAt: untrusted, EndsSelfSigned: true},
			"other", []string{IDTLSHandshakeFailed}, ""},
		{"issuer in store",
			[]probe.Cert{leafCert(), interCert()},
			probe.ChainAnalysis{OrderOK: true, PathLen: 2, EndsAt: interCN, IssuerInStore: true},
			"unknown_authority", []string{IDTLSHandshakeFailed}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := verifyFailed(healthy(), tc.reason)
			r.TLS.Chain = tc.chain
			a := tc.analysis
			r.TLS.Analysis = &a
			fs := diag(t, r)
			wantIDs(t, fs, tc.want...)
			if tc.wantSummary == "" {
				return
			}
			f := find(fs, IDTLSUntrustedRoot)
			if !strings.HasPrefix(f.Summary, tc.wantSummary) {
				t.Errorf("summary:\ngot  %s\nwant %s…", f.Summary, tc.wantSummary)
			}
			wantEvidence(t, f, map[string]any{"ends_at": a.EndsAt, "trust_store": "/tmp/lab/ca.pem"})
			if !strings.Contains(f.Advice, "--ca FILE") {
				t.Errorf("advice lacks --ca FILE: %s", f.Advice)
			}
			if a.MissingIssuer != "" {
				wantEvidence(t, f, map[string]any{"missing_issuer": a.MissingIssuer})
				if !strings.Contains(f.Advice, "itself an intermediate") {
					t.Errorf("advice should say to send a missing intermediate: %s", f.Advice)
				}
			}
		})
	}
}

func TestTLSChainOrder(t *testing.T) {
	t.Run("root before intermediate, verified anyway", func(t *testing.T) {
		r := healthy()
		r.TLS.Chain = []probe.Cert{leafCert(), rootCert(), interCert()}
		r.TLS.Analysis = &probe.ChainAnalysis{OrderOK: false, MisorderedAt: 0, PathLen: 3, EndsAt: rootCN, EndsSelfSigned: true}
		fs := diag(t, r)
		wantIDs(t, fs, IDTLSChainOrder)
		f := &fs[0]
		want := `the server sent its certificates out of order: #0 "CN=app.lab.test" is followed by "CN=pathlens lab root", not by its issuer "CN=pathlens lab intermediate"`
		if f.Summary != want {
			t.Errorf("summary:\ngot  %s\nwant %s", f.Summary, want)
		}
		wantEvidence(t, f, map[string]any{"misordered_at": 0, "sent_subjects": []string{leafCN, rootCN, interCN}})
	})
	t.Run("extra certificate at the end", func(t *testing.T) {
		r := healthy()
		r.TLS.Chain = []probe.Cert{leafCert(), interCert()}
		r.TLS.Analysis = &probe.ChainAnalysis{OrderOK: false, MisorderedAt: 1, PathLen: 2, EndsAt: interCN, IssuerInStore: true}
		fs := diag(t, r)
		wantIDs(t, fs, IDTLSChainOrder)
		wantEvidence(t, &fs[0], map[string]any{"misordered_at": 1})
	})
	t.Run("in order", func(t *testing.T) {
		wantIDs(t, diag(t, healthy()))
	})
}

func TestTLSHostnameMismatch(t *testing.T) {
	tests := []struct {
		name      string
		target    string
		sni       string
		reason    string
		hostErr   string
		dnsNames  []string
		ips       []string
		want      []string
		wantAsked string
		wantSum   string
	}{
		{"verify reason hostname", "https://wrong.lab.test:8443/", "wrong.lab.test", "hostname",
			"x509: certificate is valid for app.lab.test, www.app.lab.test, not wrong.lab.test",
			[]string{"app.lab.test", "www.app.lab.test"}, nil,
			[]string{IDTLSHostnameMismatch}, "wrong.lab.test",
			`the certificate covers "app.lab.test", "www.app.lab.test" but not "wrong.lab.test"`},
		{"hidden behind unknown authority", "https://wrong.lab.test:8443/", "wrong.lab.test", "other",
			"x509: certificate is valid for app.lab.test, not wrong.lab.test",
			[]string{"app.lab.test"}, nil,
			[]string{IDTLSHostnameMismatch}, "wrong.lab.test", `but not "wrong.lab.test"`},
		{"IP literal: no SNI, asked is the target host", "https://127.0.0.1:8443/health", "", "hostname",
			"x509: certificate is valid for 10.0.0.1, not 127.0.0.1",
			nil, []string{"10.0.0.1"},
			[]string{IDTLSHostnameMismatch}, "127.0.0.1", `covers "10.0.0.1" but not "127.0.0.1"`},
		{"IPv6 literal", "https://[::1]:8443/", "", "hostname", "x509: not ::1",
			[]string{"app.lab.test"}, nil,
			[]string{IDTLSHostnameMismatch}, "::1", `but not "::1"`},
		{"no names at all", "https://app.lab.test/", "app.lab.test", "hostname", "x509: certificate relies on legacy Common Name field",
			nil, nil, []string{IDTLSHostnameMismatch}, "app.lab.test", "lists no DNS names or IPs at all"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := verifyFailed(healthy(), tc.reason)
			r.Target = tc.target
			r.TLS.SNI = tc.sni
			r.TLS.HostnameError = tc.hostErr
			leaf := leafCert()
			leaf.DNSNames, leaf.IPs = tc.dnsNames, tc.ips
			r.TLS.Chain = []probe.Cert{leaf, interCert()}
			fs := diag(t, r)
			wantIDs(t, fs, tc.want...)
			f := find(fs, IDTLSHostnameMismatch)
			if f == nil {
				return
			}
			if !strings.Contains(f.Summary, tc.wantSum) {
				t.Errorf("summary: got %q, want it to contain %q", f.Summary, tc.wantSum)
			}
			want := map[string]any{"asked": tc.wantAsked}
			if tc.dnsNames != nil {
				want["dns_names"] = tc.dnsNames
			}
			if tc.ips != nil {
				want["ips"] = tc.ips
			}
			wantEvidence(t, f, want)
		})
	}
	t.Run("insecure: handshake succeeded, mismatch still reported", func(t *testing.T) {
		r := healthy()
		r.TLS.Verified = false
		r.TLS.VerifyReason = "hostname"
		r.TLS.HostnameError = "x509: not other.lab.test"
		r.TLS.SNI = "other.lab.test"
		wantIDs(t, diag(t, r), IDTLSHostnameMismatch)
	})
}

func TestTLSCertExpired(t *testing.T) {
	tests := []struct {
		name      string
		chain     []probe.Cert
		verified  []probe.Cert
		want      []string
		wantEv    map[string]any
		wantSumm  string
		wantAdvic string
	}{
		{"leaf expired 3 days ago",
			[]probe.Cert{cert(leafCN, interCN, -93*day, -3*day), interCert()}, nil,
			[]string{IDTLSCertExpired},
			map[string]any{"subject": leafCN, "days_ago": 3.0, "not_after": "2026-11-18T10:00:00Z", "index": 0, "chain": "sent"},
			`the server's certificate "CN=app.lab.test" expired 3.0 days ago (not after 2026-11-18T10:00:00Z)`, "reload"},
		{"intermediate expired, in the verified chain only",
			[]probe.Cert{leafCert()}, []probe.Cert{leafCert(), cert(interCN, rootCN, -400*day, -36*time.Hour), rootCert()},
			[]string{IDTLSCertExpired},
			map[string]any{"subject": interCN, "days_ago": 1.5, "index": 1, "chain": "verified"},
			`the intermediate "CN=pathlens lab intermediate" expired 1.5 days ago`, "stale chain"},
		{"worst of two: the longest expired",
			[]probe.Cert{cert(leafCN, interCN, -93*day, -3*day), cert(interCN, rootCN, -400*day, -10*day)}, nil,
			[]string{IDTLSCertExpired},
			map[string]any{"subject": interCN, "days_ago": 10.0, "invalid_count": 2}, "expired 10.0 days ago", ""},
		{"expired one nanosecond ago",
			[]probe.Cert{cert(leafCN, interCN, -90*day, -time.Nanosecond), interCert()}, nil,
			[]string{IDTLSCertExpired}, map[string]any{"days_ago": 0.0}, "", ""},
		{"not after exactly now is still valid (but expiring)",
			[]probe.Cert{cert(leafCN, interCN, -90*day, 0), interCert()}, nil,
			[]string{IDTLSCertExpiring}, nil, "", ""},
		{"not yet valid",
			[]probe.Cert{cert(leafCN, interCN, 2*day, 90*day), interCert()}, nil,
			[]string{IDTLSCertExpired},
			map[string]any{"subject": leafCN, "not_before": "2026-11-23T10:00:00Z", "days_until_valid": 2.0},
			`the server's certificate "CN=app.lab.test" is not valid yet: valid from 2026-11-23T10:00:00Z`, "clock"},
		{"expired wins over not yet valid",
			[]probe.Cert{cert(leafCN, interCN, 2*day, 90*day), cert(interCN, rootCN, -400*day, -1*day)}, nil,
			[]string{IDTLSCertExpired}, map[string]any{"subject": interCN}, "expired 1.0 days ago", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := verifyFailed(healthy(), "expired")
			r.TLS.Chain, r.TLS.VerifiedChain = tc.chain, tc.verified
			r.TLS.Analysis = &probe.ChainAnalysis{OrderOK: true, PathLen: len(tc.chain), IssuerInStore: true}
			if tc.want[0] == IDTLSCertExpiring {
				// valid at StartedAt: the handshake succeeded
				r = healthy()
				r.TLS.Chain, r.TLS.VerifiedChain = tc.chain, nil
			}
			fs := diag(t, r)
			wantIDs(t, fs, tc.want...)
			f := &fs[0]
			if tc.wantEv != nil {
				wantEvidence(t, f, tc.wantEv)
			}
			if tc.wantSumm != "" && !strings.Contains(f.Summary, tc.wantSumm) {
				t.Errorf("summary:\ngot  %s\nwant %s", f.Summary, tc.wantSumm)
			}
			if tc.wantAdvic != "" && !strings.Contains(f.Advice, tc.wantAdvic) {
				t.Errorf("advice lacks %q: %s", tc.wantAdvic, f.Advice)
			}
		})
	}
	t.Run("insecure probe with an expired leaf still reports it", func(t *testing.T) {
		r := healthy()
		r.TLS.Verified = false
		r.TLS.VerifiedChain = nil
		r.TLS.VerifyReason = "expired"
		r.TLS.Chain = []probe.Cert{cert(leafCN, interCN, -93*day, -3*day), interCert()}
		wantIDs(t, diag(t, r), IDTLSCertExpired)
	})
	t.Run("no start time: no date checks", func(t *testing.T) {
		r := healthy()
		r.StartedAt = time.Time{}
		r.TLS.Chain = []probe.Cert{cert(leafCN, interCN, -93*day, -3*day)}
		wantIDs(t, diag(t, r))
	})
}

func TestTLSCertExpiring(t *testing.T) {
	tests := []struct {
		name     string
		left     time.Duration
		verified bool
		want     bool
		wantDays float64
	}{
		{"13.9 days left", time.Duration(13.9 * float64(day)), true, true, 13.9},
		{"14.1 days left", time.Duration(14.1 * float64(day)), true, false, 0},
		{"exactly 14 days left", 14 * day, true, false, 0},
		{"one hour left", time.Hour, true, true, 0.0},
		{"13.9 days, chain as sent when unverified", time.Duration(13.9 * float64(day)), false, true, 13.9},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := healthy()
			leaf := cert(leafCN, interCN, -76*day, tc.left)
			r.TLS.Chain = []probe.Cert{leaf, interCert()}
			r.TLS.VerifiedChain = []probe.Cert{leaf, interCert(), rootCert()}
			if !tc.verified {
				r.TLS.VerifiedChain = nil
				r.TLS.Verified = false // --insecure with an unrelated problem
			}
			fs := diag(t, r)
			f := find(fs, IDTLSCertExpiring)
			if (f != nil) != tc.want {
				t.Fatalf("TLS_CERT_EXPIRING: got %v, want %v (findings %v)", f != nil, tc.want, ids(fs))
			}
			if f == nil {
				return
			}
			wantIDs(t, fs, IDTLSCertExpiring)
			wantEvidence(t, f, map[string]any{"subject": leafCN, "days_left": tc.wantDays, "index": 0,
				"not_after": leaf.NotAfter.Format(time.RFC3339)})
			if want := fmt.Sprintf("expires in %.1f days", tc.wantDays); !strings.Contains(f.Summary, want) {
				t.Errorf("summary %q lacks %q", f.Summary, want)
			}
		})
	}
	t.Run("soonest of several", func(t *testing.T) {
		r := healthy()
		in := cert(interCN, rootCN, -400*day, 5*day)
		r.TLS.Chain = []probe.Cert{cert(leafCN, interCN, -80*day, 10*day), in}
		r.TLS.VerifiedChain = []probe.Cert{r.TLS.Chain[0], in, rootCert()}
		fs := diag(t, r)
		wantIDs(t, fs, IDTLSCertExpiring)
		wantEvidence(t, &fs[0], map[string]any{"subject": interCN, "days_left": 5.0, "index": 1})
	})
	t.Run("an expired certificate suppresses expiring", func(t *testing.T) {
		r := healthy()
		r.TLS.Chain = []probe.Cert{cert(leafCN, interCN, -80*day, 3*day), cert(interCN, rootCN, -400*day, -day)}
		r.TLS.VerifiedChain = nil
		wantIDs(t, diag(t, r), IDTLSCertExpired)
	})
}

func TestTLSOldVersion(t *testing.T) {
	for _, tc := range []struct {
		version string
		want    bool
	}{{"TLS 1.0", true}, {"TLS 1.1", true}, {"TLS 1.2", false}, {"TLS 1.3", false}, {"", false}} {
		t.Run(tc.version, func(t *testing.T) {
			r := healthy()
			r.TLS.Version = tc.version
			r.TLS.ALPN = "h2"
			if tc.version == "" {
				r.TLS.ALPN = ""
			}
			fs := diag(t, r)
			if got := find(fs, IDTLSOldVersion) != nil; got != tc.want {
				t.Fatalf("TLS_OLD_VERSION: got %v, want %v (findings %v)", got, tc.want, ids(fs))
			}
			if tc.want {
				wantIDs(t, fs, IDTLSOldVersion)
				wantEvidence(t, &fs[0], map[string]any{"version": tc.version})
				if !strings.Contains(fs[0].Summary, tc.version) || !strings.Contains(fs[0].Advice, "ssl_protocols") {
					t.Errorf("summary %q / advice %q", fs[0].Summary, fs[0].Advice)
				}
			}
		})
	}
}

func TestTLSNoResumption(t *testing.T) {
	tests := []struct {
		name       string
		version    string
		resumption *probe.ResumptionCheck
		want       bool
		wantAdvice string
	}{
		{"TLS 1.3 not resumed", "TLS 1.3", &probe.ResumptionCheck{Tested: true, HandshakeMS: 12.5}, true, "SetSessionTicketKeys"},
		{"TLS 1.2 not resumed", "TLS 1.2", &probe.ResumptionCheck{Tested: true, HandshakeMS: 20}, true, "ssl_session_cache"},
		{"resumed", "TLS 1.3", &probe.ResumptionCheck{Tested: true, Resumed: true, HandshakeMS: 3}, false, ""},
		{"not tested (no budget)", "TLS 1.3", &probe.ResumptionCheck{Tested: false, Error: "no budget left"}, false, ""},
		{"check skipped", "TLS 1.3", nil, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := healthy()
			r.TLS.Version = tc.version
			r.TLS.Resumption = tc.resumption
			fs := diag(t, r)
			f := find(fs, IDTLSNoResumption)
			if (f != nil) != tc.want {
				t.Fatalf("TLS_NO_RESUMPTION: got %v, want %v (findings %v)", f != nil, tc.want, ids(fs))
			}
			if f == nil {
				return
			}
			wantIDs(t, fs, IDTLSNoResumption)
			wantEvidence(t, f, map[string]any{"version": tc.version, "second_handshake_ms": tc.resumption.HandshakeMS, "first_handshake_ms": 41.0})
			if !strings.Contains(f.Advice, tc.wantAdvice) {
				t.Errorf("advice lacks %q: %s", tc.wantAdvice, f.Advice)
			}
			if !strings.Contains(f.Summary, tc.version) {
				t.Errorf("summary %q lacks the version", f.Summary)
			}
		})
	}
}

func TestTLSHandshakeSlow(t *testing.T) {
	tests := []struct {
		name       string
		tls, conn  float64
		incomplete bool
		want       bool
		wantRatio  float64
	}{
		{"99 ms on a 1 ms connect: under the floor", 99, 1, false, false, 0},
		{"2 ms on a 0.1 ms loopback connect", 2, 0.1, false, false, 0},
		{"301 ms on a 100 ms connect", 301, 100, false, true, 3.0},
		{"299 ms on a 100 ms connect", 299, 100, false, false, 0},
		{"300 ms on a 100 ms connect: exactly 3 round trips", 300, 100, false, false, 0},
		{"101 ms on a 1 ms connect", 101, 1, false, true, 101},
		{"stalled handshake is PROBE_TIMEOUT's, not slow", 5000, 1, true, false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := healthy()
			setPhase(r, "connect", tc.conn)
			setPhase(r, "tls", tc.tls)
			r.TotalMS = tc.tls + tc.conn + 25
			if tc.incomplete {
				r = failed(r, probe.ClassTimeout, "tls", "deadline", "deadline")
			}
			fs := diag(t, r)
			f := find(fs, IDTLSHandshakeSlow)
			if (f != nil) != tc.want {
				t.Fatalf("TLS_HANDSHAKE_SLOW: got %v, want %v (findings %v)", f != nil, tc.want, ids(fs))
			}
			if f == nil {
				return
			}
			wantIDs(t, fs, IDTLSHandshakeSlow)
			wantEvidence(t, f, map[string]any{"tls_ms": tc.tls, "connect_ms": tc.conn, "ratio": tc.wantRatio, "round_trips": tc.wantRatio})
		})
	}
	// Round trips count the wire time only: the tls phase less the
	// client's certificate verification (TLS_VERIFY_SLOW's).
	for _, tc := range []struct {
		name           string
		tls, verify    float64
		want           []string
		wantRoundTrips float64
	}{
		{"a 200-certificate chain: the time went verifying", 123, 110, []string{IDTLSVerifySlow}, 0},
		{"slow on the wire as well", 400, 220, []string{IDTLSHandshakeSlow, IDTLSVerifySlow}, 180},
		{"slow on the wire, verification cheap", 400, 0.5, []string{IDTLSHandshakeSlow}, 399.5},
		{"wire just under the floor", 120, 20.5, nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := healthy()
			setPhase(r, "connect", 0.1)
			setPhase(r, "tls", tc.tls)
			r.TLS.VerifyMS = tc.verify
			r.TotalMS = tc.tls + 5
			fs := diag(t, r)
			wantIDs(t, fs, tc.want...)
			if f := find(fs, IDTLSHandshakeSlow); f != nil {
				wantEvidence(t, f, map[string]any{"tls_ms": tc.tls, "verify_ms": tc.verify, "wire_ms": tc.tls - tc.verify,
					"round_trips": tc.wantRoundTrips * 10})
				if want := fmt.Sprintf("the TLS handshake took %s, %s of it on the wire (%s verifying certificates)",
					fmtMS(tc.tls), fmtMS(tc.tls-tc.verify), fmtMS(tc.verify)); !strings.HasPrefix(f.Summary, want) {
					t.Errorf("summary %q, want it to start %q", f.Summary, want)
				}
			}
		})
	}
	t.Run("a HelloRetryRequest makes two round trips normal", func(t *testing.T) {
		r := healthy()
		setPhase(r, "connect", 1)
		setPhase(r, "tls", 150)
		r.TLS.HelloRetryRequest = true
		f := find(diag(t, r), IDTLSHandshakeSlow)
		if f == nil || f.Evidence["hello_retry_request"] != true || !strings.Contains(f.Summary, "2 are normal for TLS 1.3 with a HelloRetryRequest") {
			t.Errorf("got %+v", f)
		}
	})
	t.Run("zero connect time: no ratio, no Inf", func(t *testing.T) {
		r := healthy()
		setPhase(r, "connect", 0)
		setPhase(r, "tls", 150)
		r.TotalMS = 200
		f := find(diag(t, r), IDTLSHandshakeSlow)
		if f == nil {
			t.Fatalf("want TLS_HANDSHAKE_SLOW")
		}
		if _, ok := f.Evidence["ratio"]; ok {
			t.Errorf("ratio present with a zero connect time: %v", f.Evidence)
		}
	})
}

func TestTLSHandshakeFailed(t *testing.T) {
	tests := []struct {
		name       string
		class      probe.ErrorClass
		cause      string
		alert      string
		want       []string
		wantSumm   string
		wantAdvice string
	}{
		{"not TLS", probe.ClassTLS, "not_tls", "not a TLS record: first record does not look like a TLS handshake",
			[]string{IDTLSHandshakeFailed}, "something that is not TLS (wrong port, or plain HTTP on a TLS port?)", "port"},
		{"handshake failure alert", probe.ClassTLS, "alert", "remote error: tls: handshake failure",
			[]string{IDTLSHandshakeFailed}, `alert "handshake failure"`, "ssl_ciphers"},
		{"protocol version alert", probe.ClassTLS, "alert", "remote error: tls: protocol version not supported",
			[]string{IDTLSHandshakeFailed}, "protocol version", "ssl_protocols"},
		{"client certificate required", probe.ClassTLS, "alert", "remote error: tls: certificate required",
			[]string{IDTLSHandshakeFailed}, "client certificate", "--cert FILE --key FILE"},
		{"unrecognized name", probe.ClassTLS, "alert", "remote error: tls: unrecognized name",
			[]string{IDTLSHandshakeFailed}, "SNI", "server_name"},
		{"other alert", probe.ClassTLS, "alert", "remote error: tls: internal error",
			[]string{IDTLSHandshakeFailed}, "internal error", ""},
		{"connection closed", probe.ClassTLS, "", "",
			[]string{IDTLSHandshakeFailed}, "the TLS handshake failed: EOF", ""},
		{"protocol class in tls phase", probe.ClassProtocol, "panic", "",
			[]string{IDTLSHandshakeFailed}, "", ""},
		{"verify failed for another reason", probe.ClassTLS, "verify_invalid", "",
			[]string{IDTLSHandshakeFailed}, "certificate verification failed", "server-auth"},
		{"budget ran out in tls", probe.ClassTimeout, "deadline", "",
			[]string{IDProbeTimeout}, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := failed(healthy(), tc.class, "tls", tc.cause, "EOF")
			r.TLS = &probe.TLSInfo{SNI: "app.lab.test", OfferedALPN: []string{"h2", "http/1.1"}, Chain: []probe.Cert{}, Alert: tc.alert, TrustStore: "system"}
			if strings.HasPrefix(tc.cause, "verify_") {
				r.TLS.Chain = []probe.Cert{leafCert(), interCert()}
				r.TLS.VerifyReason = strings.TrimPrefix(tc.cause, "verify_")
				r.TLS.VerifyError = "x509: certificate specifies an incompatible key usage"
				r.TLS.Analysis = &probe.ChainAnalysis{OrderOK: true, PathLen: 2, EndsAt: interCN, IssuerInStore: true}
			}
			fs := diag(t, r)
			wantIDs(t, fs, tc.want...)
			f := find(fs, IDTLSHandshakeFailed)
			if f == nil {
				return
			}
			if !strings.Contains(f.Summary, tc.wantSumm) {
				t.Errorf("summary: got %q, want it to contain %q", f.Summary, tc.wantSumm)
			}
			if !strings.Contains(f.Advice, tc.wantAdvice) {
				t.Errorf("advice lacks %q: %s", tc.wantAdvice, f.Advice)
			}
			want := map[string]any{"message": "EOF"}
			if tc.alert != "" {
				want["alert"] = tc.alert
			}
			if tc.cause != "" {
				want["cause"] = tc.cause
			}
			wantEvidence(t, f, want)
		})
	}
	clientCert := func(alert string, late, requested, sent bool) *probe.Result {
		r := failed(healthy(), probe.ClassTLS, "tls", "alert", "remote error: tls: "+alert)
		r.TLS.Alert = "remote alert: tls: " + alert
		r.TLS.AlertAfterHandshake, r.TLS.ClientCertRequested, r.TLS.ClientCertSent = late, requested, sent
		if late {
			r.TLS.Version = "TLS 1.3"
		}
		return r
	}
	for _, tc := range []struct {
		name                  string
		r                     *probe.Result
		wantSumm, wantAdvice  string
		wantLate, wantRequest bool
	}{
		{"TLS 1.3 certificate_required after the handshake", clientCert("certificate required", true, true, false),
			`the server requires a client certificate and pathlens sent none (alert "certificate required"); the alert came after pathlens had finished its side of the TLS 1.3 handshake`,
			"--cert FILE --key FILE", true, true},
		{"TLS 1.2 handshake_failure after a CertificateRequest: the missing certificate, not the ciphers",
			clientCert("handshake failure", false, true, false),
			`the server requires a client certificate and pathlens sent none (alert "handshake failure")`, "--cert FILE --key FILE", false, true},
		{"handshake_failure without a CertificateRequest: the ciphers", clientCert("handshake failure", false, false, false),
			"no cipher suite, group or signature algorithm in common", "ssl_ciphers", false, false},
		{"a certificate sent and refused", clientCert("unknown certificate authority", true, true, true),
			`the server rejected the client certificate pathlens sent (alert "unknown certificate authority")`, "clientAuth", true, true},
		{"any late alert after a CertificateRequest left unanswered", clientCert("internal error", true, true, false),
			"requires a client certificate and pathlens sent none", "--cert FILE --key FILE", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := diag(t, tc.r)
			wantIDs(t, fs, IDTLSHandshakeFailed)
			f := &fs[0]
			if !strings.Contains(f.Summary, tc.wantSumm) || !strings.Contains(f.Advice, tc.wantAdvice) || f.Phase != probe.PhaseTLS {
				t.Errorf("phase %s summary %q advice %q; want %q and %q", f.Phase, f.Summary, f.Advice, tc.wantSumm, tc.wantAdvice)
			}
			if late, _ := f.Evidence["after_handshake"].(bool); late != tc.wantLate {
				t.Errorf("after_handshake = %v, want %v", f.Evidence["after_handshake"], tc.wantLate)
			}
			if req, _ := f.Evidence["client_cert_requested"].(bool); req != tc.wantRequest {
				t.Errorf("client_cert_requested = %v, want %v", f.Evidence["client_cert_requested"], tc.wantRequest)
			}
		})
	}
	t.Run("the late rejection silences the findings of the call it ended", func(t *testing.T) {
		r := clientCert("certificate required", true, true, false)
		r.TLS.Resumption = &probe.ResumptionCheck{Tested: true, HandshakeMS: 1}
		r.Kind, r.HTTP = "grpcs", nil
		r.GRPC = &probe.GRPCInfo{StatusCode: 14, StatusName: "UNAVAILABLE", StatusOrigin: probe.GRPCStatusClient, Health: true}
		wantIDs(t, diag(t, r), IDTLSHandshakeFailed)
	})
	t.Run("no tls block", func(t *testing.T) {
		r := failed(healthy(), probe.ClassTLS, "tls", "reset", "read: connection reset by peer")
		r.TLS = nil
		wantIDs(t, diag(t, r), IDTLSHandshakeFailed)
	})
	t.Run("specific certificate findings replace it", func(t *testing.T) {
		r := verifyFailed(healthy(), "hostname")
		r.TLS.HostnameError = "x509: not wrong.lab.test"
		r.TLS.Chain = []probe.Cert{cert(leafCN, interCN, -93*day, -3*day), interCert()}
		r.TLS.SNI = "wrong.lab.test"
		wantIDs(t, diag(t, r), IDTLSHostnameMismatch, IDTLSCertExpired)
	})
}

func TestTLSVerifySlow(t *testing.T) {
	for _, tc := range []struct {
		name        string
		tls, verify float64
		sent        int
		timeout     bool
		want        bool
		wantAdvice  string
	}{
		{"healthy loopback", 1.7, 0.45, 2, false, false, ""},
		{"half the handshake is not over half", 41, 20.5, 2, false, false, ""},
		{"most of it, under the floor", 19, 18, 2, false, false, ""},
		{"20 ms exactly is the floor", 30, 20, 2, false, false, ""},
		{"over both", 30, 20.5, 2, false, true, "short of CPU"},
		{"a long chain", 123, 110, 201, false, true, "A chain of 201 certificates is the cause"},
		{"the budget ran out verifying", 5000, 4990, 201, true, true, "100 signature checks"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := healthy()
			setPhase(r, "tls", tc.tls)
			r.TLS.VerifyMS = tc.verify
			r.TLS.Chain = make([]probe.Cert, tc.sent)
			for i := range r.TLS.Chain {
				r.TLS.Chain[i] = interCert()
			}
			r.TLS.Chain[0] = leafCert()
			r.TotalMS = tc.tls + 5
			if tc.timeout {
				r = failed(r, probe.ClassTimeout, "tls", "deadline", "deadline")
			}
			fs := diag(t, r)
			f := find(fs, IDTLSVerifySlow)
			if (f != nil) != tc.want {
				t.Fatalf("TLS_VERIFY_SLOW: got %v, want %v (findings %v)", f != nil, tc.want, ids(fs))
			}
			if f == nil {
				return
			}
			if f.Severity != probe.SeverityWarning || f.Phase != probe.PhaseTLS || !strings.Contains(f.Advice, tc.wantAdvice) {
				t.Errorf("severity %s phase %s advice %q, want warning, tls, %q", f.Severity, f.Phase, f.Advice, tc.wantAdvice)
			}
			share := round(tc.verify/tc.tls, 2)
			wantEvidence(t, f, map[string]any{"verify_ms": tc.verify, "tls_ms": tc.tls, "wire_ms": round(tc.tls-tc.verify, 3),
				"share": share, "sent": tc.sent})
			want := fmt.Sprintf("verifying the server's certificates took %s, %s of the %s TLS handshake: the server sent %d certificates",
				fmtMS(tc.verify), pct(share), fmtMS(tc.tls), tc.sent)
			if f.Summary != want {
				t.Errorf("summary %q\nwant    %q", f.Summary, want)
			}
		})
	}
	t.Run("a chain too long for Go's verifier", func(t *testing.T) {
		r := verifyFailed(healthy(), "other")
		r.TLS.VerifyError = "x509: signature check attempts limit reached while verifying certificate chain"
		r.TLS.Chain = make([]probe.Cert, 201)
		r.TLS.Analysis = &probe.ChainAnalysis{OrderOK: true, PathLen: 201, EndsAt: interCN, IssuerInStore: true}
		setPhase(r, "tls", 123)
		r.TLS.VerifyMS = 110
		fs := diag(t, r)
		wantIDs(t, fs, IDTLSHandshakeFailed, IDTLSVerifySlow)
		if f := &fs[0]; !strings.Contains(f.Summary, "the certificate chain is too long to verify") || !strings.Contains(f.Summary, "201 certificates") ||
			!strings.Contains(f.Advice, "100 signature checks") {
			t.Errorf("TLS_HANDSHAKE_FAILED %+v", f)
		}
	})
}
