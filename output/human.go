package output

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pathlens/pathlens/internal/units"
	"github.com/pathlens/pathlens/probe"
)

// indent is the left margin of continuation lines under a labelled block
// ("conn  ", "dns   ", "tls   ", "http  ").
const indent = "      "

// Human writes one Result for a person: a header line, a waterfall of the
// phases, connection, DNS, TLS and HTTP summaries where present, and the
// findings ordered by severity. Strings taken from the Result are escaped
// so that a hostile peer cannot inject terminal control sequences.
func Human(w io.Writer, r *probe.Result, s Style) error {
	if r == nil {
		return errors.New("output: nil result")
	}
	var b bytes.Buffer
	writeHeader(&b, r, s)
	writeWaterfall(&b, r, s)
	writeConn(&b, r.Conn, s)
	writeDNS(&b, r.DNS, s)
	writeTLS(&b, r, s)
	writeHTTP(&b, r.HTTP, s)
	writeH2(&b, r.H2, s)
	writeWS(&b, r.WS, s)
	writeGRPC(&b, r.GRPC, s)
	writeICMP(&b, r.ICMP, s)
	writeFindings(&b, r.Findings, s)
	_, err := w.Write(b.Bytes())
	return err
}

func writeHeader(b *bytes.Buffer, r *probe.Result, s Style) {
	head := s.paint(ansiBold, clean(r.Target)) + "  " + clean(r.Kind) + "  "
	errText := ""
	if r.Success {
		head += s.paint(ansiGreen, "ok")
	} else {
		head += s.paint(ansiBold+";"+ansiRed, "FAILED")
		if e := r.Error; e != nil {
			msg := e.Summary()
			if e.Cause != "" {
				msg += " [" + e.Cause + "]"
			}
			errText = s.paint(ansiRed, clean(msg))
		}
	}
	total := "  " + units.MS(r.TotalMS)
	switch {
	case errText == "":
		b.WriteString(head + total + "\n")
	case visibleLen(head)+1+visibleLen(errText)+len(total) <= s.width():
		b.WriteString(head + " " + errText + total + "\n")
	default:
		// Too long for one line: the error goes on its own line below.
		b.WriteString(head + total + "\n  " + errText + "\n")
	}
}

// partial holds the left-aligned eighth blocks, index = eighths (1–7).
var partial = [8]string{"", "▏", "▎", "▍", "▌", "▋", "▊", "▉"}

const (
	barFull   = "█"
	inFlight  = "…"
	durCols   = 7 // width of the number in the duration column
	minBar    = 10
	maxBar    = 100
	inFlightS = " (in flight)"
)

func writeWaterfall(b *bytes.Buffer, r *probe.Result, s Style) {
	nw := len("transfer")
	scale := r.TotalMS
	for _, p := range r.Phases {
		if n := len([]rune(clean(p.Name))); n > nw {
			nw = n
		}
		if end := p.StartMS + p.DurationMS; end > scale {
			scale = end
		}
	}
	if scale <= 0 {
		scale = 1
	}
	// "  name  │bar│ 1234.56 ms (in flight)"
	bw := s.width() - (2 + nw + 2 + 2 + 1 + durCols + 3 + len(inFlightS))
	bw = max(minBar, min(maxBar, bw))

	for _, p := range r.Phases {
		b.WriteString("  ")
		b.WriteString(pad(clean(p.Name), nw))
		b.WriteString("  │")
		b.WriteString(bar(p, scale, bw, s))
		b.WriteString("│ ")
		b.WriteString(lpad(units.Num(p.DurationMS), durCols))
		b.WriteString(" ms")
		if p.Incomplete {
			b.WriteString(s.paint(ansiYellow, inFlightS))
		}
		b.WriteString("\n")
	}
	b.WriteString("  ")
	b.WriteString(pad("total", nw))
	b.WriteString("  ")
	b.WriteString(strings.Repeat(" ", bw+2))
	b.WriteString(" ")
	b.WriteString(lpad(units.Num(r.TotalMS), durCols))
	b.WriteString(" ms\n")
}

// bar draws one phase: blank up to its start, then blocks for its
// duration (eighth-cell resolution at the end, at least a thin line),
// then "…" when the phase was still in flight.
func bar(p probe.Phase, scale float64, bw int, s Style) string {
	startF := p.StartMS / scale * float64(bw)
	start := 0
	if startF > 0 {
		start = min(int(startF), bw-1)
	}
	eighths := 0
	if p.DurationMS > 0 {
		eighths = int(math.Round(p.DurationMS / scale * float64(bw) * 8))
	}
	eighths = max(eighths, 1)
	end := min(bw, start+eighths/8)
	last := ""
	if rem := eighths % 8; rem > 0 && end < bw {
		last = partial[rem]
		end++
	} else if end > start {
		last = barFull
	}
	// The segment is end-start cells: full blocks, then last.
	n := end - start
	mark := ""
	if p.Incomplete {
		mark = s.paint(ansiYellow, inFlight)
		if end < bw {
			end++
		} else if n > 1 {
			// No room after the bar: the marker takes its last cell.
			n--
			last = barFull
		} else {
			n, last = 0, ""
		}
	}
	seg := ""
	if n > 0 {
		seg = strings.Repeat(barFull, n-1) + last
	}
	var out strings.Builder
	out.WriteString(strings.Repeat(" ", start))
	out.WriteString(s.paint(phaseColor(p.Name), seg))
	out.WriteString(mark)
	out.WriteString(strings.Repeat(" ", bw-end))
	return out.String()
}

func ipVersion(v int) string {
	switch v {
	case 4:
		return " (IPv4)"
	case 6:
		return " (IPv6)"
	}
	return ""
}

func writeConn(b *bytes.Buffer, c *probe.ConnInfo, s Style) {
	if c == nil {
		return
	}
	b.WriteString("conn  ")
	if c.RemoteAddr != "" {
		b.WriteString(clean(c.RemoteAddr))
	} else {
		b.WriteString("not connected")
	}
	b.WriteString(ipVersion(c.IPVersion))
	if c.Reused {
		b.WriteString(" reused")
		if c.IdleMS > 0 {
			b.WriteString(" (idle " + units.MS(c.IdleMS) + ")")
		}
	} else if c.RemoteAddr != "" {
		b.WriteString(" fresh")
	}
	if c.LocalAddr != "" {
		b.WriteString(", local " + clean(c.LocalAddr))
	}
	b.WriteString("\n")
	show := len(c.Attempts) > 1
	for _, a := range c.Attempts {
		if a.Error != "" {
			show = true
		}
	}
	if !show {
		return
	}
	aw := 0
	for _, a := range c.Attempts {
		aw = max(aw, len([]rune(clean(a.Addr))))
	}
	for i, a := range c.Attempts {
		fmt.Fprintf(b, "%sattempt %d  %s  start %s ms  took %s ms  ", indent, i+1, pad(clean(a.Addr), aw),
			units.Num(a.StartMS), units.Num(a.DurationMS))
		switch {
		case a.Error != "":
			b.WriteString(s.paint(ansiRed, clean(a.Error)))
		case a.Canceled:
			b.WriteString("canceled")
		default:
			b.WriteString(s.paint(ansiGreen, "connected"))
		}
		b.WriteString("\n")
	}
}

func writeDNS(b *bytes.Buffer, d *probe.DNSInfo, s Style) {
	if d == nil {
		return
	}
	b.WriteString("dns   ")
	b.WriteString(clean(d.Name))
	if d.Type != "" {
		b.WriteString(" " + clean(d.Type))
	}
	if d.Source == "literal" {
		b.WriteString(" (literal address, no lookup)\n")
		return
	}
	b.WriteString(" → ")
	switch {
	case len(d.Addrs) > 0:
		addrs := make([]string, len(d.Addrs))
		for i, a := range d.Addrs {
			addrs[i] = clean(a)
		}
		b.WriteString(strings.Join(addrs, ", "))
	case len(d.Answers) > 0:
		fmt.Fprintf(b, "%d answer%s", len(d.Answers), plural(len(d.Answers)))
	default:
		b.WriteString("no addresses")
	}
	switch {
	case d.Source == "resolve":
		b.WriteString(" via --resolve")
	case d.Server != "":
		b.WriteString(" via " + clean(d.Server))
	case d.Source != "":
		b.WriteString(" via " + clean(d.Source))
	}
	if d.Rcode != "" {
		code := clean(d.Rcode)
		if d.Rcode != "NOERROR" {
			code = s.paint(ansiRed, code)
		}
		b.WriteString(" (" + code + ")")
	}
	b.WriteString("\n")
	for _, a := range d.Answers {
		b.WriteString(indent + clean(a) + "\n")
	}
}

// writeTLS writes the tls line (handshake, verification, resumption),
// the certificate chain and the chain analysis's notes.
func writeTLS(b *bytes.Buffer, r *probe.Result, s Style) {
	t := r.TLS
	if t == nil {
		return
	}
	parts := append(tlsHandshakeParts(t, s), tlsTrustParts(t, s)...)
	writeWrapped(b, "tls   ", parts, s.width())

	if t.HostnameError != "" && t.HostnameError != t.VerifyError {
		b.WriteString(indent + s.paint(ansiRed, "hostname: "+clean(t.HostnameError)) + "\n")
	}
	writeChain(b, t.Chain, r.StartedAt, s)
	writeChainNotes(b, t.Analysis, s)
}

// tlsHandshakeParts are the tls line's words about the handshake: version,
// cipher, ALPN, SNI, resumed, stapling, alert.
func tlsHandshakeParts(t *probe.TLSInfo, s Style) []string {
	var parts []string
	if t.Version != "" {
		v := clean(t.Version)
		if t.Version == "TLS 1.0" || t.Version == "TLS 1.1" {
			v = s.paint(ansiYellow, v)
		}
		parts = append(parts, v)
	} else {
		parts = append(parts, s.paint(ansiRed, "no handshake"))
	}
	if t.Cipher != "" {
		parts = append(parts, clean(t.Cipher))
	}
	if t.Version != "" {
		alpn := "none"
		if t.ALPN != "" {
			alpn = clean(t.ALPN)
		}
		parts = append(parts, "alpn="+alpn)
	}
	if t.SNI != "" {
		parts = append(parts, "sni="+clean(t.SNI))
	}
	if t.Resumed {
		parts = append(parts, "resumed")
	}
	if t.OCSPStapled {
		parts = append(parts, "ocsp-stapled")
	}
	if t.Alert != "" {
		parts = append(parts, s.paint(ansiRed, "alert: "+clean(t.Alert)))
	}
	return parts
}

// tlsTrustParts are the tls line's words about verification and the
// resumption check.
func tlsTrustParts(t *probe.TLSInfo, s Style) []string {
	var parts []string
	ver := ""
	switch {
	case t.Verified:
		ver = s.paint(ansiGreen, "verified")
	case t.VerifyError != "":
		ver = s.paint(ansiRed, "NOT verified: "+clean(t.VerifyError))
	case t.Version != "":
		ver = s.paint(ansiYellow, "not verified")
	}
	if ver != "" && t.TrustStore != "" && t.TrustStore != "system" {
		ver += " (roots " + clean(t.TrustStore) + ")"
	}
	if ver != "" {
		if t.Resumption != nil {
			ver += ","
		}
		parts = append(parts, ver)
	}
	if rc := t.Resumption; rc != nil {
		res := "resumption: "
		switch {
		case !rc.Tested:
			res += "not tested"
		case rc.Resumed:
			res += s.paint(ansiGreen, "yes")
		case rc.Error != "":
			res += s.paint(ansiYellow, "failed: "+clean(rc.Error))
		default:
			res += s.paint(ansiYellow, "no (full handshake)")
		}
		if rc.Tested && rc.HandshakeMS > 0 {
			res += " (" + units.MS(rc.HandshakeMS) + ")"
		}
		parts = append(parts, res)
	}
	return parts
}

// writeChain writes one line (or two, when narrow) per certificate.
func writeChain(b *bytes.Buffer, chain []probe.Cert, at time.Time, s Style) {
	for i, c := range chain {
		head := fmt.Sprintf("%s%d %s", indent, i, clean(c.Subject))
		rest := "issued by " + clean(c.Issuer)
		if c.SelfSigned {
			rest = "self-signed"
		}
		if e := expiry(c, at, s); e != "" {
			rest += "  " + e
		}
		if visibleLen(head)+2+visibleLen(rest) > s.width() {
			b.WriteString(head + "\n" + indent + "    " + rest + "\n")
		} else {
			b.WriteString(head + "  " + rest + "\n")
		}
	}
}

// writeChainNotes writes what the chain analysis found wrong, if anything.
func writeChainNotes(b *bytes.Buffer, a *probe.ChainAnalysis, s Style) {
	if a == nil {
		return
	}
	var notes []string
	if !a.OrderOK {
		notes = append(notes, fmt.Sprintf("out of order at %d", a.MisorderedAt))
	}
	if a.MissingIssuer != "" {
		if len(notes) > 0 {
			notes[len(notes)-1] += ";"
		}
		notes = append(notes, "missing issuer "+clean(a.MissingIssuer))
		if len(a.AIA) > 0 {
			aia := make([]string, len(a.AIA))
			for i, u := range a.AIA {
				aia[i] = clean(u)
			}
			notes = append(notes, "(AIA "+strings.Join(aia, ", ")+")")
		}
	}
	if len(notes) > 0 {
		for i := range notes {
			notes[i] = s.paint(ansiYellow, notes[i])
		}
		writeWrapped(b, indent+s.paint(ansiYellow, "chain:")+" ", notes, s.width())
	}
}

// expiry describes a certificate's validity relative to the probe's start
// (never time.Now, so output is reproducible).
func expiry(c probe.Cert, at time.Time, s Style) string {
	if c.NotAfter.IsZero() {
		return ""
	}
	date := c.NotAfter.UTC().Format("2006-01-02")
	if at.IsZero() {
		return "expires " + date
	}
	if c.NotAfter.Before(at) {
		d := int(at.Sub(c.NotAfter).Hours() / 24)
		return s.paint(ansiRed, fmt.Sprintf("EXPIRED %s (%d day%s ago)", date, d, plural(d)))
	}
	if !c.NotBefore.IsZero() && c.NotBefore.After(at) {
		return s.paint(ansiRed, "NOT VALID before "+c.NotBefore.UTC().Format("2006-01-02"))
	}
	d := int(c.NotAfter.Sub(at).Hours() / 24)
	e := fmt.Sprintf("expires %s (%d day%s)", date, d, plural(d))
	if d < 14 {
		e = s.paint(ansiYellow, e)
	}
	return e
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// writeWrapped writes label and the space-separated parts, continuing on
// indented lines when a line would grow wider than width.
func writeWrapped(b *bytes.Buffer, label string, parts []string, width int) {
	line := label
	n := visibleLen(label)
	fresh := true
	for _, p := range parts {
		w := visibleLen(p)
		if !fresh && n+1+w > width {
			b.WriteString(line + "\n")
			line, n, fresh = indent, len(indent), true
		}
		if !fresh {
			line += " "
			n++
		}
		line += p
		n += w
		fresh = false
	}
	b.WriteString(line + "\n")
}

// visibleLen is the number of columns s takes on a terminal: runes,
// not counting the SGR sequences paint adds.
func visibleLen(s string) int {
	n := 0
	for i := 0; i < len(s); {
		if s[i] == 0x1b {
			j := strings.IndexByte(s[i:], 'm')
			if j < 0 {
				break
			}
			i += j + 1
			continue
		}
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
		n++
	}
	return n
}

func writeHTTP(b *bytes.Buffer, h *probe.HTTPInfo, s Style) {
	if h == nil {
		return
	}
	var parts []string
	if h.Status == 0 {
		parts = append(parts, s.paint(ansiRed, "no response"))
	} else {
		st := s.paint(statusColor(h.Status), strconv.Itoa(h.Status))
		if h.Proto != "" {
			st += " " + clean(h.Proto) + " "
		}
		parts = append(parts, st)
		body := "body " + units.Bytes(h.BodyBytes)
		if h.ContentLength >= 0 {
			body += fmt.Sprintf(" (content-length %d)", h.ContentLength)
		} else {
			body += " (no content-length)"
		}
		parts = append(parts, body)
		if h.ContentEncoding != "" {
			parts = append(parts, clean(h.ContentEncoding))
		}
		if h.Truncated {
			parts = append(parts, s.paint(ansiRed, "TRUNCATED"))
		}
		if h.BodyLimited {
			parts = append(parts, s.paint(ansiYellow, "stopped at max-body "+units.Bytes(h.MaxBody)))
		}
		if h.HeadersBytes > 0 {
			parts[len(parts)-1] += ","
			parts = append(parts, "headers "+units.Bytes(int64(h.HeadersBytes)))
		}
		if !h.KeepAlive {
			parts[len(parts)-1] += ","
			parts = append(parts, "connection: close")
		}
	}
	writeWrapped(b, "http  ", parts, s.width())
	for i, rd := range h.Redirects {
		fmt.Fprintf(b, "%sredirect %d  %s %s → %s  %s", indent, i+1,
			s.paint(statusColor(rd.Status), strconv.Itoa(rd.Status)),
			clean(rd.URL), clean(rd.Location), units.MS(rd.TotalMS))
		if rd.Reused {
			b.WriteString(" (reused conn)")
		}
		b.WriteString("\n")
	}
}

func statusColor(code int) string {
	switch {
	case code >= 500:
		return ansiRed
	case code >= 400:
		return ansiYellow
	case code >= 300:
		return ansiCyan
	case code >= 200:
		return ansiGreen
	}
	return ""
}

// sortFindings returns the findings ordered by severity (critical first),
// keeping the diagnosis order within a severity.
func sortFindings(fs []probe.Finding) []probe.Finding {
	out := append([]probe.Finding(nil), fs...)
	sort.SliceStable(out, func(i, j int) bool {
		return out[i].Severity.Rank() > out[j].Severity.Rank()
	})
	return out
}

func writeFindings(b *bytes.Buffer, fs []probe.Finding, s Style) {
	if len(fs) == 0 {
		b.WriteString("No findings.\n")
		return
	}
	for _, f := range sortFindings(fs) {
		b.WriteString(s.paint(severityColor(f.Severity), pad(clean(string(f.Severity)), 8)))
		b.WriteString(" ")
		b.WriteString(s.paint(ansiBold, clean(f.ID)))
		if f.Summary != "" {
			b.WriteString("  " + clean(f.Summary))
		}
		b.WriteString("\n")
		keys := make([]string, 0, len(f.Evidence))
		for k := range f.Evidence {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			b.WriteString("    " + s.paint(ansiDim, clean(k)+":") + " " + clean(compact(f.Evidence[k])) + "\n")
		}
		if f.Advice != "" {
			b.WriteString("    → " + clean(f.Advice) + "\n")
		}
	}
}

// compact renders an evidence value on one line: strings bare, numbers
// without trailing zeros (rounded to 3 decimals), anything else as compact
// JSON.
func compact(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return fmtFloat(x)
	case float32:
		return fmtFloat(float64(x))
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return fmt.Sprint(x)
	case time.Duration:
		return x.String()
	case time.Time:
		return x.UTC().Format(time.RFC3339)
	case error:
		return x.Error()
	case fmt.Stringer:
		return x.String()
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

func fmtFloat(x float64) string {
	if math.IsInf(x, 0) || math.IsNaN(x) {
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	return strconv.FormatFloat(math.Round(x*1000)/1000, 'f', -1, 64)
}

func writeICMP(b *bytes.Buffer, c *probe.ICMPInfo, s Style) {
	if c == nil {
		return
	}
	loss := fmt.Sprintf("%d/%d replies (%s loss)", c.Received, c.Sent, units.Num(c.LossPct)+" %")
	if c.LossPct > 0 {
		loss = s.paint(ansiYellow, loss)
	}
	parts := []string{clean(c.Addr), loss}
	if c.Received > 0 {
		parts = append(parts, "rtt min/avg/max/stddev "+units.Num(c.MinMS)+"/"+units.Num(c.AvgMS)+"/"+units.Num(c.MaxMS)+"/"+units.Num(c.StdDevMS)+" ms")
	}
	if c.Privileged {
		parts = append(parts, "raw socket")
	} else {
		parts = append(parts, "unprivileged socket")
	}
	writeWrapped(b, "icmp", parts, s.width())
}
