package diagnose

import (
	"fmt"
	"strings"
	"time"

	"github.com/pathlens/pathlens/probe"
)

// TLS thresholds.
const (
	// certExpiringWindow: a certificate that expires sooner than this is
	// about to break.
	certExpiringWindow = 14 * 24 * time.Hour
	// tlsSlowRoundTrips: a handshake longer than this many TCP connect
	// times is slow (TLS 1.3 needs one round trip, TLS 1.2 two)…
	tlsSlowRoundTrips = 3.0
	// tlsSlowFloorMS: …and only above this, so a 2 ms loopback handshake
	// against a 0.1 ms connect is not an alarm. Both count the handshake's
	// wire time: the tls phase minus tls.verify_ms, the client's own
	// certificate verification.
	tlsSlowFloorMS = 100.0
	// tlsVerifySlowShare: certificate verification over this share of the
	// tls phase dominates the handshake…
	tlsVerifySlowShare = 0.5
	// tlsVerifySlowFloorMS: …when it also took over this; a healthy
	// two-certificate ECDSA chain verifies in well under 1 ms.
	tlsVerifySlowFloorMS = 20.0
)

const day = 24 * time.Hour

// days is d in days, to one decimal.
func days(d time.Duration) float64 { return round(d.Hours()/24, 1) }

// tlsFailedApplies: the handshake failed (not timed out).
func tlsFailedApplies(r *probe.Result) bool {
	e := r.Error
	return e != nil && (e.Class == probe.ClassTLS || (e.Class == probe.ClassProtocol && e.Phase == probe.PhaseTLS))
}

// tlsHandshakeFailed is TLS_HANDSHAKE_FAILED: the handshake failed and no
// certificate finding explains why.
func tlsHandshakeFailed(r *probe.Result) *Finding {
	if !tlsFailedApplies(r) {
		return nil
	}
	if tlsChainIncomplete(r) != nil || tlsUntrustedRoot(r) != nil || tlsHostnameMismatch(r) != nil || tlsCertExpired(r) != nil {
		return nil
	}
	e := r.Error
	t := r.TLS
	if t == nil {
		t = &probe.TLSInfo{}
	}
	ev := evidence{}.set("alert", t.Alert).set("message", e.Message).set("cause", e.Cause).
		set("verify_reason", t.VerifyReason).set("verify_error", t.VerifyError).set("sni", t.SNI)
	if d, ok := phaseOf(r, probe.PhaseTLS); ok {
		ev["tls_ms"] = msEv(d.DurationMS)
	}
	if t.AlertAfterHandshake {
		ev["after_handshake"] = true
	}
	if t.ClientCertRequested {
		ev["client_cert_requested"], ev["client_cert_sent"] = true, t.ClientCertSent
	}
	alert := strings.ToLower(t.Alert)
	var summary, advice string
	switch {
	case clientCertRejected(t):
		summary, advice = clientCertWords(t)
	case e.Cause == probe.CauseNotTLS:
		summary = "the server answered with something that is not TLS (wrong port, or plain HTTP on a TLS port?)"
		if t.Alert != "" {
			summary += ": " + t.Alert
		}
		advice = "The bytes that came back are not a TLS record. Check the port (is 80/8080 being probed with https://?), " +
			"whether the service speaks TLS at all (try http:// or tcp://), and for a proxy in between, that it is not " +
			"terminating TLS and forwarding plain text to this port. For STARTTLS protocols (SMTP 587, IMAP 143) TLS does " +
			"not start at once; use the implicit-TLS port (465, 993)."
	case probe.IsVerifyCause(e.Cause) && strings.Contains(t.VerifyError, "signature check attempts limit"):
		summary = fmt.Sprintf("the certificate chain is too long to verify: %s (the server sent %d certificates)", t.VerifyError, len(t.Chain))
		advice = "Go's verifier gives up after 100 signature checks, and OpenSSL's default verify depth is 100: a " +
			"chain this deep fails for them whatever it is made of. Serve the leaf and the intermediates up to the root " +
			"clients trust, nothing more (nginx ssl_certificate, envoy certificate_chain, Go tls.Certificate.Certificate)."
	case probe.IsVerifyCause(e.Cause):
		summary = "certificate verification failed: " + firstNonEmpty(t.VerifyError, e.Message)
		advice = "The certificate chain was rejected for a reason other than trust, name or dates (for example a " +
			"certificate not valid for server authentication, or a CA constraint). Inspect it with " +
			"openssl s_client -connect HOST:PORT -servername NAME -showcerts and reissue it with the server-auth extended key usage."
	case strings.Contains(alert, "protocol version"):
		summary = "the server rejected the TLS version offered (alert \"protocol version\")"
		advice = "Client and server share no TLS version. pathlens offers TLS 1.0–1.3, so the server probably requires " +
			"something else or is misconfigured: check nginx ssl_protocols, Go tls.Config MinVersion/MaxVersion, envoy " +
			"tls_params tls_minimum_protocol_version / tls_maximum_protocol_version."
	case strings.Contains(alert, "handshake failure") || strings.Contains(alert, "insufficient security"):
		summary = "the server aborted the handshake (alert " + quoteAlert(t.Alert) + "): no cipher suite, group or signature algorithm in common"
		advice = "The server accepts nothing the client offered. Check the server's cipher list (nginx ssl_ciphers, envoy " +
			"tls_params cipher_suites, Go CipherSuites/CurvePreferences) against modern clients: it should allow ECDHE with " +
			"AES-GCM or ChaCha20. An RSA-only key with an ECDSA-only cipher list (or the reverse) fails the same way. " +
			"Some servers also send this alert when they have no certificate for the SNI name asked for."
	case strings.Contains(alert, "unrecognized name"):
		summary = "the server has no certificate for the name sent in SNI (alert \"unrecognized name\")"
		advice = "The server does not know the SNI name " + fmt.Sprintf("%q", askedName(r)) + ": add it to the virtual host " +
			"(nginx server_name, envoy filter_chain_match server_names) or use --servername with a name the server serves."
	case t.Alert != "":
		summary = "the TLS handshake failed: " + t.Alert
		advice = "Read the alert: it is the server's reason for ending the handshake (or the transport error that ended it). " +
			"Reproduce with openssl s_client -connect HOST:PORT -servername NAME and read the server's TLS error log."
	default:
		summary = "the TLS handshake failed: " + e.Message
		advice = "Reproduce with openssl s_client -connect HOST:PORT -servername NAME and read the server's TLS error log; " +
			"a connection closed during the handshake usually means the server or a proxy in between gave up on the ClientHello."
	}
	if t.AlertAfterHandshake {
		summary += "; the alert came after pathlens had finished its side of the TLS 1.3 handshake"
	}
	return &Finding{ID: IDTLSHandshakeFailed, Severity: probe.SeverityCritical, Phase: probe.PhaseTLS, Summary: summary, Evidence: ev, Advice: advice}
}

// clientCertRejected: the server ended the handshake over the client
// certificate — an alert that names it, or (TLS 1.2 servers, Go and
// OpenSSL alike, answer a missing certificate with handshake_failure)
// any alert after the server asked for a certificate pathlens did not
// have: by then version, cipher and group were agreed.
func clientCertRejected(t *probe.TLSInfo) bool {
	alert := strings.ToLower(t.Alert)
	if strings.Contains(alert, "certificate required") || strings.Contains(alert, "bad certificate") ||
		strings.Contains(alert, "unknown certificate") || strings.Contains(alert, "unknown ca") {
		return true
	}
	return t.ClientCertRequested && !t.ClientCertSent &&
		(strings.Contains(alert, "handshake failure") || t.AlertAfterHandshake)
}

// clientCertWords are the summary and advice of a handshake the server
// ended over the client certificate: none sent, or not accepted.
func clientCertWords(t *probe.TLSInfo) (summary, advice string) {
	a := quoteAlert(t.Alert)
	if t.ClientCertRequested && !t.ClientCertSent {
		return "the server requires a client certificate and pathlens sent none (alert " + a + ")",
			"The server requires mutual TLS. Pass a client certificate the server's client CA trusts with " +
				"--cert FILE --key FILE (serve: tls.cert_file and tls.key_file). If clients are not meant to need " +
				"one, make the server ask without requiring it (nginx ssl_verify_client optional, Go " +
				"tls.VerifyClientCertIfGiven, envoy require_client_certificate: false)."
	}
	summary = "the server rejected the client certificate (alert " + a + ")"
	advice = "The server requires mutual TLS. Pass a client certificate the server's client CA trusts with " +
		"--cert FILE --key FILE, and check the server's client-CA list (nginx ssl_client_certificate, envoy " +
		"validation_context, Go ClientCAs) and that the client certificate is not expired."
	if t.ClientCertSent {
		summary = "the server rejected the client certificate pathlens sent (alert " + a + ")"
		advice = "The server did not accept the client certificate given with --cert: check that it is issued by a CA " +
			"in the server's client-CA list (nginx ssl_client_certificate, envoy validation_context " +
			"trusted_ca, Go ClientCAs), that it and its chain are not expired, and that it allows client " +
			"authentication (extended key usage clientAuth). The server's TLS error log names the reason."
	}
	return summary, advice
}

func quoteAlert(a string) string {
	a = strings.TrimPrefix(a, "remote error: ")
	a = strings.TrimPrefix(a, "remote alert: ")
	a = strings.TrimPrefix(a, "tls: ")
	return fmt.Sprintf("%q", a)
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// sentSubjects lists the subjects of the certificates as sent.
func sentSubjects(t *probe.TLSInfo) []string {
	out := make([]string, len(t.Chain))
	for i, c := range t.Chain {
		out[i] = c.Subject
	}
	return out
}

// tlsChainIncomplete is TLS_CHAIN_INCOMPLETE: nothing the server sent
// issues the leaf, and the trust store does not hold its issuer either.
func tlsChainIncomplete(r *probe.Result) *Finding {
	t := r.TLS
	if t == nil || t.Verified || t.Analysis == nil {
		return nil
	}
	a := t.Analysis
	if a.EndsSelfSigned || a.IssuerInStore || a.PathLen != 1 {
		return nil
	}
	missing := a.MissingIssuer
	if missing == "" && len(t.Chain) > 0 {
		missing = t.Chain[0].Issuer
	}
	ev := evidence{"sent": len(t.Chain)}.set("missing_issuer", missing).set("sent_subjects", sentSubjects(t)).
		set("aia", a.AIA).set("trust_store", t.TrustStore)
	var summary string
	if len(t.Chain) <= 1 {
		summary = fmt.Sprintf("the server sent only its leaf certificate; the intermediate %q is missing", missing)
	} else {
		summary = fmt.Sprintf("the server sent %d certificates but none of them issues the leaf; the intermediate %q is missing", len(t.Chain), missing)
	}
	advice := "Serve the full chain: the leaf first, then every intermediate up to (not including) the root. " +
		"nginx: ssl_certificate must point at the full-chain file (certbot's fullchain.pem, not cert.pem), leaf first. " +
		"envoy: certificate_chain must hold leaf + intermediates. Go: tls.LoadX509KeyPair reads every certificate in " +
		"the PEM file, so append the intermediate after the leaf. " +
		"Go clients (and curl, Java, most API clients) never fetch the missing intermediate from the AIA URL; browsers " +
		"sometimes do, or have it cached — which is why it \"works in Chrome\"."
	if len(a.AIA) > 0 {
		advice += " The leaf's AIA points at " + strings.Join(a.AIA, ", ") + ": that is where to download the intermediate."
	}
	return &Finding{ID: IDTLSChainIncomplete, Severity: probe.SeverityCritical, Phase: probe.PhaseTLS, Summary: summary, Evidence: ev, Advice: advice}
}

// tlsChainOrder is TLS_CHAIN_ORDER.
func tlsChainOrder(r *probe.Result) *Finding {
	t := r.TLS
	if t == nil || t.Analysis == nil || t.Analysis.OrderOK || tlsChainIncomplete(r) != nil {
		return nil
	}
	i := t.Analysis.MisorderedAt
	ev := evidence{"misordered_at": i, "sent": len(t.Chain)}.set("sent_subjects", sentSubjects(t))
	summary := fmt.Sprintf("the server sent its certificates out of order (at position %d)", i)
	if i >= 0 && i+1 < len(t.Chain) {
		c, next := t.Chain[i], t.Chain[i+1]
		summary = fmt.Sprintf("the server sent its certificates out of order: #%d %q is followed by %q, not by its issuer %q",
			i, c.Subject, next.Subject, c.Issuer)
	} else if i >= 0 && i < len(t.Chain) {
		summary = fmt.Sprintf("the server sent certificates after #%d %q that are not on its chain", i, t.Chain[i].Subject)
	}
	return &Finding{
		ID: IDTLSChainOrder, Severity: probe.SeverityWarning, Phase: probe.PhaseTLS,
		Summary:  summary,
		Evidence: ev,
		Advice: "Send the leaf first, then each certificate followed by its issuer, and nothing that is not on the chain " +
			"(cat leaf.pem intermediate.pem > fullchain.pem — in that order). nginx ssl_certificate, envoy certificate_chain " +
			"and Go's tls.LoadX509KeyPair all send the PEM file in file order. Go and browsers re-sort the chain, but " +
			"older OpenSSL, Java and embedded clients fail on it.",
	}
}

// tlsUntrustedRoot is TLS_UNTRUSTED_ROOT.
func tlsUntrustedRoot(r *probe.Result) *Finding {
	t := r.TLS
	if t == nil || t.Verified || t.VerifyReason != "unknown_authority" || t.Analysis == nil {
		return nil
	}
	a := t.Analysis
	if a.IssuerInStore || !(a.EndsSelfSigned || a.PathLen >= 2) {
		return nil
	}
	store := firstNonEmpty(t.TrustStore, "system")
	ev := evidence{"path_len": a.PathLen, "ends_self_signed": a.EndsSelfSigned}.set("ends_at", a.EndsAt).
		set("missing_issuer", a.MissingIssuer).set("trust_store", store).set("sent_subjects", sentSubjects(t))
	var summary string
	switch {
	case a.EndsSelfSigned && a.PathLen == 1:
		summary = fmt.Sprintf("the server's certificate %q is self-signed and not in the trust store (%s)", a.EndsAt, store)
	case a.EndsSelfSigned:
		summary = fmt.Sprintf("the chain ends at the root %q, which is not in the trust store (%s)", a.EndsAt, store)
	default:
		summary = fmt.Sprintf("the chain ends at %q, whose issuer %q is neither sent nor in the trust store (%s)", a.EndsAt, a.MissingIssuer, store)
	}
	advice := "If this is a private CA, give pathlens its root with --ca FILE (and the same root to every client: Go " +
		"tls.Config.RootCAs, or the system store via update-ca-certificates). If the server should be using a public CA, " +
		"it is serving the wrong certificate (a self-signed default, a staging CA such as Let's Encrypt staging): fix " +
		"nginx ssl_certificate / envoy certificate_chain to the production chain."
	if !a.EndsSelfSigned && a.MissingIssuer != "" {
		advice += fmt.Sprintf(" If %q is itself an intermediate rather than a root, the server must send it too (after %q).", a.MissingIssuer, a.EndsAt)
	}
	return &Finding{ID: IDTLSUntrustedRoot, Severity: probe.SeverityCritical, Phase: probe.PhaseTLS, Summary: summary, Evidence: ev, Advice: advice}
}

// askedName is the name the certificate had to cover: the SNI, or the
// target's host when no SNI was sent (IP literals).
func askedName(r *probe.Result) string {
	if r.TLS != nil && r.TLS.SNI != "" {
		return r.TLS.SNI
	}
	return targetHost(r)
}

// tlsHostnameMismatch is TLS_HOSTNAME_MISMATCH.
func tlsHostnameMismatch(r *probe.Result) *Finding {
	t := r.TLS
	if t == nil || (t.HostnameError == "" && t.VerifyReason != "hostname") {
		return nil
	}
	asked := askedName(r)
	ev := evidence{}.set("asked", asked).set("hostname_error", t.HostnameError)
	var names []string
	if len(t.Chain) > 0 {
		leaf := t.Chain[0]
		ev.set("dns_names", leaf.DNSNames).set("ips", leaf.IPs).set("subject", leaf.Subject)
		names = append(append(names, leaf.DNSNames...), leaf.IPs...)
	}
	var summary string
	if len(names) == 0 {
		summary = fmt.Sprintf("the certificate does not cover %q: it lists no DNS names or IPs at all (subject CN is ignored)", asked)
	} else {
		summary = fmt.Sprintf("the certificate covers %s but not %q", quoteList(names), asked)
	}
	return &Finding{
		ID: IDTLSHostnameMismatch, Severity: probe.SeverityCritical, Phase: probe.PhaseTLS,
		Summary:  summary,
		Evidence: ev,
		Advice: "Either the client uses the wrong name or the server serves the wrong certificate. If the name is right, " +
			"reissue the certificate with it in the subjectAltName (the CN alone has not counted since Go 1.15 and Chrome 58; " +
			"a wildcard covers one label only). If the server hosts several names, check it picks the certificate by SNI: " +
			"nginx serves the default_server's certificate when no server_name matches; envoy needs a filter_chain_match " +
			"server_names entry; Go needs tls.Config.GetCertificate or Certificates with the right names. To probe a " +
			"server by IP or through a different host name, pass --servername NAME.",
	}
}

// certRef is one certificate and where it was found.
type certRef struct {
	cert  probe.Cert
	index int
	chain string // "sent" or "verified"
}

// allCerts lists the sent chain, then the verified chain, without repeats.
func allCerts(t *probe.TLSInfo) []certRef {
	var out []certRef
	seen := map[string]bool{}
	add := func(cs []probe.Cert, chain string) {
		for i, c := range cs {
			key := c.SHA256
			if key == "" {
				key = c.Subject + "|" + c.Issuer + "|" + c.NotAfter.String()
			}
			if seen[key] {
				continue
			}
			seen[key] = true
			out = append(out, certRef{c, i, chain})
		}
	}
	add(t.Chain, "sent")
	add(t.VerifiedChain, "verified")
	return out
}

// certWords names a certificate by its place in its chain.
func certWords(c certRef) string {
	switch {
	case c.index == 0:
		return "the server's certificate"
	case c.cert.SelfSigned:
		return "the root"
	case c.cert.IsCA:
		return "the intermediate"
	}
	return "the certificate"
}

// tlsCertExpired is TLS_CERT_EXPIRED: any certificate, sent or in the
// verified chain, outside its validity window at the probe's start. It
// reports the worst one: the longest expired, else the furthest from
// becoming valid.
func tlsCertExpired(r *probe.Result) *Finding {
	t := r.TLS
	now := r.StartedAt
	if t == nil || now.IsZero() {
		return nil
	}
	var expired, notYet *certRef
	var expiredAgo, notYetIn time.Duration
	count := 0
	for _, c := range allCerts(t) {
		switch {
		case !c.cert.NotAfter.IsZero() && now.After(c.cert.NotAfter):
			count++
			if ago := now.Sub(c.cert.NotAfter); expired == nil || ago > expiredAgo {
				expired, expiredAgo = &c, ago
			}
		case !c.cert.NotBefore.IsZero() && now.Before(c.cert.NotBefore):
			count++
			if in := c.cert.NotBefore.Sub(now); notYet == nil || in > notYetIn {
				notYet, notYetIn = &c, in
			}
		}
	}
	if expired == nil && notYet == nil {
		return nil
	}
	if expired != nil {
		c := expired.cert
		ev := evidence{"days_ago": days(expiredAgo), "not_after": c.NotAfter.UTC().Format(time.RFC3339),
			"index": expired.index, "chain": expired.chain, "invalid_count": count}.set("subject", c.Subject).set("issuer", c.Issuer)
		advice := "Renew the certificate and deploy the new file, then reload the server: nginx and envoy keep the old " +
			"certificate in memory until reloaded (nginx -s reload; envoy SDS or a hot restart); a Go server must re-read " +
			"it (tls.Config.GetCertificate). Check why automatic renewal (certbot/cert-manager/ACME) did not run."
		if expired.index > 0 {
			advice += " Here it is not the leaf: the served chain contains an expired intermediate or root, so replace " +
				"the chain file with the CA's current intermediate (a renewed leaf is often deployed with a stale chain)."
		}
		return &Finding{
			ID: IDTLSCertExpired, Severity: probe.SeverityCritical, Phase: probe.PhaseTLS,
			Summary: fmt.Sprintf("%s %q expired %.1f days ago (not after %s)", certWords(*expired), c.Subject,
				days(expiredAgo), c.NotAfter.UTC().Format(time.RFC3339)),
			Evidence: ev,
			Advice:   advice,
		}
	}
	c := notYet.cert
	ev := evidence{"days_until_valid": days(notYetIn), "not_before": c.NotBefore.UTC().Format(time.RFC3339),
		"index": notYet.index, "chain": notYet.chain, "invalid_count": count}.set("subject", c.Subject).set("issuer", c.Issuer)
	return &Finding{
		ID: IDTLSCertExpired, Severity: probe.SeverityCritical, Phase: probe.PhaseTLS,
		Summary: fmt.Sprintf("%s %q is not valid yet: valid from %s, %.1f days after this probe", certWords(*notYet), c.Subject,
			c.NotBefore.UTC().Format(time.RFC3339), days(notYetIn)),
		Evidence: ev,
		Advice: "Either the certificate was issued with a start date in the future or a clock is wrong. Check the clock " +
			"of the probing host and of the server (timedatectl, chrony/ntpd); if both are right, reissue the certificate " +
			"with a valid notBefore (or wait until it starts).",
	}
}

// tlsCertExpiring is TLS_CERT_EXPIRING: no certificate is expired, but one
// in the verified chain (or the sent chain when verification failed)
// expires within certExpiringWindow.
func tlsCertExpiring(r *probe.Result) *Finding {
	t := r.TLS
	now := r.StartedAt
	if t == nil || now.IsZero() || tlsCertExpired(r) != nil {
		return nil
	}
	certs, chain := t.VerifiedChain, "verified"
	if len(certs) == 0 {
		certs, chain = t.Chain, "sent"
	}
	best := -1
	var bestLeft time.Duration
	for i, c := range certs {
		if c.NotAfter.IsZero() {
			continue
		}
		left := c.NotAfter.Sub(now)
		if left < certExpiringWindow && (best < 0 || left < bestLeft) {
			best, bestLeft = i, left
		}
	}
	if best < 0 {
		return nil
	}
	ref := certRef{certs[best], best, chain}
	c := ref.cert
	return &Finding{
		ID: IDTLSCertExpiring, Severity: probe.SeverityWarning, Phase: probe.PhaseTLS,
		Summary: fmt.Sprintf("%s %q expires in %.1f days (not after %s)", certWords(ref), c.Subject, days(bestLeft),
			c.NotAfter.UTC().Format(time.RFC3339)),
		Evidence: evidence{"days_left": days(bestLeft), "not_after": c.NotAfter.UTC().Format(time.RFC3339),
			"index": best, "chain": chain, "window_days": days(certExpiringWindow)}.set("subject", c.Subject).set("issuer", c.Issuer),
		Advice: "Renew now and reload the server (nginx -s reload, envoy SDS update, Go tls.Config.GetCertificate re-reading " +
			"the file). ACME clients renew 30 days before expiry by default (certbot, cert-manager renewBefore), so a " +
			"certificate this close to expiry means renewal is failing: check the renewal logs and timer/CronJob.",
	}
}

// tlsOldVersion is TLS_OLD_VERSION.
func tlsOldVersion(r *probe.Result) *Finding {
	t := r.TLS
	if t == nil || (t.Version != "TLS 1.0" && t.Version != "TLS 1.1") {
		return nil
	}
	return &Finding{
		ID: IDTLSOldVersion, Severity: probe.SeverityWarning, Phase: probe.PhaseTLS,
		Summary:  fmt.Sprintf("the server negotiated %s although TLS 1.2 and 1.3 were offered", t.Version),
		Evidence: evidence{"version": t.Version}.set("cipher", t.Cipher),
		Advice: "TLS 1.0 and 1.1 are deprecated (RFC 8996) and refused by current browsers and by Go clients by default. " +
			"Enable TLS 1.2 and 1.3 on the server: nginx ssl_protocols TLSv1.2 TLSv1.3; Go tls.Config MinVersion: " +
			"tls.VersionTLS12 (and no MaxVersion); envoy tls_params tls_minimum_protocol_version: TLSv1_2, " +
			"tls_maximum_protocol_version: TLSv1_3. A server that cannot do TLS 1.2 runs an OpenSSL older than 1.0.1 and needs an upgrade.",
	}
}

// tlsNoResumption is TLS_NO_RESUMPTION.
func tlsNoResumption(r *probe.Result) *Finding {
	t := r.TLS
	if t == nil || t.Resumption == nil || !t.Resumption.Tested || t.Resumption.Resumed || tlsFailedApplies(r) {
		return nil // (a handshake that failed had no session to resume)
	}
	ev := evidence{"second_handshake_ms": msEv(t.Resumption.HandshakeMS)}.set("version", t.Version).set("error", t.Resumption.Error)
	if d, ok := completedPhase(r, probe.PhaseTLS); ok {
		ev["first_handshake_ms"] = msEv(d)
	}
	var advice string
	if t.Version == "TLS 1.3" {
		advice = "TLS 1.3 resumes with session tickets only. Either the server sends none or it cannot decrypt its own " +
			"ticket on the second connection — typically several instances behind a load balancer, each with its own random " +
			"ticket key. Go: leave SessionTicketsDisabled false and share keys across instances with " +
			"tls.Config.SetSessionTicketKeys; nginx: ssl_session_tickets on; and the same ssl_session_ticket_key file on " +
			"every node; envoy: the same session_ticket_keys on every instance of the DownstreamTlsContext."
	} else {
		advice = "Below TLS 1.3, resumption uses a server-side session cache (session IDs) or session tickets. " +
			"nginx: ssl_session_cache shared:SSL:10m; ssl_session_timeout 1h; and ssl_session_tickets on (with a shared " +
			"ssl_session_ticket_key across nodes behind a load balancer — a per-process cache does not help when the " +
			"balancer picks another node). Go servers resume only with tickets: keep SessionTicketsDisabled false and share " +
			"keys with SetSessionTicketKeys. envoy: session_ticket_keys, identical on every instance."
	}
	return &Finding{
		ID: IDTLSNoResumption, Severity: probe.SeverityWarning, Phase: probe.PhaseTLS,
		Summary: fmt.Sprintf("a second connection could not resume the %s session: every connection pays a full handshake (%s)",
			firstNonEmpty(t.Version, "TLS"), fmtMS(t.Resumption.HandshakeMS)),
		Evidence: ev,
		Advice:   advice,
	}
}

// verifyMS is the part of the tls phase spent verifying certificates.
func verifyMS(r *probe.Result) float64 {
	if r.TLS == nil || r.TLS.VerifyMS < 0 {
		return 0
	}
	return r.TLS.VerifyMS
}

// tlsHandshakeSlow is TLS_HANDSHAKE_SLOW: the handshake's wire time (the
// tls phase without the client's certificate verification, which
// TLS_VERIFY_SLOW judges) over tlsSlowRoundTrips connect times and
// tlsSlowFloorMS.
func tlsHandshakeSlow(r *probe.Result) *Finding {
	hs, ok1 := completedPhase(r, probe.PhaseTLS)
	conn, ok2 := phaseOf(r, probe.PhaseConnect)
	if !ok1 || !ok2 {
		return nil
	}
	c := conn.DurationMS
	v := min(verifyMS(r), hs)
	wire := hs - v
	if wire <= tlsSlowRoundTrips*c || wire <= tlsSlowFloorMS {
		return nil
	}
	ev := evidence{"tls_ms": msEv(hs), "connect_ms": msEv(c)}
	summary := fmt.Sprintf("the TLS handshake took %s", fmtMS(hs))
	if v > 0 {
		ev["verify_ms"], ev["wire_ms"] = msEv(v), msEv(wire)
		summary += fmt.Sprintf(", %s of it on the wire (%s verifying certificates)", fmtMS(wire), fmtMS(v))
	}
	normal := "1 (TLS 1.3) or 2 (TLS 1.2) are normal"
	if r.TLS != nil && r.TLS.HelloRetryRequest {
		ev["hello_retry_request"] = true
		normal = "2 are normal for TLS 1.3 with a HelloRetryRequest"
	}
	if c > 0 {
		ratio := round(wire/c, 1)
		ev["ratio"], ev["round_trips"] = ratio, ratio
		summary += fmt.Sprintf(", %.1f× the TCP connect time (%s): about %.0f round trips where %s", ratio, fmtMS(c), ratio, normal)
	}
	if r.TLS != nil {
		ev.set("version", r.TLS.Version)
	}
	return &Finding{
		ID: IDTLSHandshakeSlow, Severity: probe.SeverityWarning, Phase: probe.PhaseTLS,
		Summary:  summary,
		Evidence: ev,
		Advice: "The network round trip is fast but the handshake is not, so the time is spent in the server: an overloaded " +
			"TLS terminator, slow private-key operations (RSA 4096, a remote HSM/KMS; an ECDSA P-256 key is far cheaper), " +
			"the server fetching OCSP or CRLs in-line (nginx ssl_stapling caches the OCSP response — enable it), or a " +
			"certificate chain so large it overflows the initial congestion window (drop the root and unneeded " +
			"cross-signs from the chain). Enable TLS 1.3 (one round trip) and session resumption.",
	}
}

// tlsVerifySlow is TLS_VERIFY_SLOW: verifying the server's certificates
// took over tlsVerifySlowShare of the tls phase and over
// tlsVerifySlowFloorMS. It reads the phase as measured, complete or not:
// verification that ate the budget is worth saying next to PROBE_TIMEOUT.
func tlsVerifySlow(r *probe.Result) *Finding {
	p, ok := phaseOf(r, probe.PhaseTLS)
	v := verifyMS(r)
	if !ok || p.DurationMS <= 0 || v <= tlsVerifySlowFloorMS || v <= tlsVerifySlowShare*p.DurationMS {
		return nil
	}
	t := r.TLS
	hs := p.DurationMS
	v = min(v, hs)
	share := v / hs
	sent := len(t.Chain)
	ev := evidence{"verify_ms": msEv(v), "tls_ms": msEv(hs), "wire_ms": msEv(hs - v), "share": round(share, 2),
		"sent": sent, "verified": t.Verified}.set("verify_error", t.VerifyError)
	if t.Analysis != nil {
		ev["path_len"] = t.Analysis.PathLen
	}
	summary := fmt.Sprintf("verifying the server's certificates took %s, %s of the %s TLS handshake", fmtMS(v), pct(share), fmtMS(hs))
	if sent > 0 {
		summary += fmt.Sprintf(": the server sent %d certificate%s", sent, plural(sent))
	}
	advice := "The time went to checking the certificate chain on the client — every certificate's signature " +
		"against its issuer's key — not to the network or the server, and every client pays it on every full " +
		"handshake. "
	if sent > 4 {
		advice += fmt.Sprintf("A chain of %d certificates is the cause: serve the leaf and the intermediates up to the "+
			"root clients trust, nothing more (nginx ssl_certificate, envoy certificate_chain, Go "+
			"tls.Certificate.Certificate), and keep the CA hierarchy shallow. Deep chains do not verify at all for "+
			"many clients: Go stops after 100 signature checks, OpenSSL at a verify depth of 100. ", sent)
	} else {
		advice += "The chain is short, so its keys are expensive to verify (RSA over 4096 bits, P-521) or the " +
			"probing host was short of CPU (load, a throttled container): check the host before the server. "
	}
	advice += "TLS session resumption skips the certificates altogether."
	return &Finding{ID: IDTLSVerifySlow, Severity: probe.SeverityWarning, Phase: probe.PhaseTLS,
		Summary: summary, Evidence: ev, Advice: advice}
}
