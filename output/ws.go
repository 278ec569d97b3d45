package output

import (
	"bytes"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pathlens/pathlens/internal/units"
	"github.com/pathlens/pathlens/probe"
)

// writeWS summarises a WebSocket session: the upgrade, the messages and
// pings, how the session ended and the token's fingerprint (never the
// token).
// It stays long: one flat run of independent parts of a single wrapped line.
func writeWS(b *bytes.Buffer, w *probe.WSInfo, s Style) {
	if w == nil {
		return
	}
	var parts []string
	switch st := w.UpgradeStatus; {
	case st == 0:
		parts = append(parts, s.paint(ansiRed, "no upgrade"))
	case st != 101:
		up := "upgrade answered " + strconv.Itoa(st)
		if t := http.StatusText(st); t != "" {
			up += " " + t
		}
		parts = append(parts, s.paint(ansiRed, up)+",")
	default:
		up := s.paint(ansiGreen, "101")
		if w.Subprotocol != "" {
			up += " subprotocol " + clean(w.Subprotocol)
		}
		if len(w.Extensions) > 0 {
			up += " ext " + clean(strings.Join(w.Extensions, ", "))
		}
		parts = append(parts, up+",")
		parts = append(parts, fmt.Sprintf("messages %d in / %d out (%s / %s),", w.MessagesIn, w.MessagesOut, units.Bytes(w.BytesIn), units.Bytes(w.BytesOut)))
	}
	if w.AuthChallenge != "" {
		parts = append(parts, "WWW-Authenticate: "+clean(w.AuthChallenge))
	}
	if n := len(w.Pings); n > 0 {
		timedOut := 0
		for _, p := range w.Pings {
			if p.TimedOut {
				timedOut++
			}
		}
		ping := fmt.Sprintf("pings %d/%d answered", len(w.PingRTTMS), n)
		if len(w.PingRTTMS) > 0 {
			lo, hi, sum := math.Inf(1), 0.0, 0.0
			for _, r := range w.PingRTTMS {
				lo, hi, sum = min(lo, r), max(hi, r), sum+r
			}
			ping += " rtt min/avg/max " + units.Num(lo) + "/" + units.Num(sum/float64(len(w.PingRTTMS))) + "/" + units.Num(hi) + " ms"
		}
		if timedOut > 0 {
			ping = s.paint(ansiYellow, ping+fmt.Sprintf(", %d timed out", timedOut))
		}
		parts = append(parts, ping+",")
	}
	if c := w.Close; c != nil {
		var text string
		switch {
		case c.By == probe.WSClosedByServer && !c.FrameReceived:
			text = "dropped by the server after " + units.MS(w.SessionMS) + " without a close frame ("
			if c.Error != "" {
				text += clean(c.Error) + "; "
			}
			text += "idle " + units.MS(w.IdleMS) + ")"
		case c.By == probe.WSClosedByServer:
			text = fmt.Sprintf("closed by the server with %d", c.Code)
			if c.Reason != "" {
				text += " " + strconv.Quote(c.Reason) // Quote escapes every control character
			}
			text += " after " + units.MS(w.SessionMS) + " (idle " + units.MS(w.IdleMS) + ")"
		default:
			text = fmt.Sprintf("closed by pathlens with %d after %s", c.Code, units.MS(w.SessionMS))
			if !c.FrameReceived {
				text += ", no close frame back"
			}
		}
		switch {
		case c.By == probe.WSClosedByServer && (!c.FrameReceived || c.Code == 1011):
			text = s.paint(ansiRed, text)
		case c.By == probe.WSClosedByServer:
			text = s.paint(ansiYellow, text)
		}
		if w.HoldCut {
			text += fmt.Sprintf(" (hold of %s cut by the budget)", units.MS(w.HoldMS))
		}
		if w.ReadLimited {
			text += " (a message exceeded " + units.Bytes(w.MaxMessage) + ")"
		}
		parts = append(parts, text)
	}
	if w.TokenFingerprint != "" {
		tok := "token " + w.TokenFingerprint
		var meta []string
		if w.TokenSource != "" {
			meta = append(meta, clean(w.TokenSource))
		}
		if w.TokenVia != "" {
			meta = append(meta, "via "+clean(w.TokenVia))
		}
		if w.TokenExp != nil {
			meta = append(meta, "exp "+w.TokenExp.UTC().Format(time.RFC3339))
		}
		if len(meta) > 0 {
			tok += " (" + strings.Join(meta, ", ") + ")"
		}
		if len(parts) > 0 && !strings.HasSuffix(parts[len(parts)-1], ",") {
			parts[len(parts)-1] += ","
		}
		parts = append(parts, tok)
	}
	if len(parts) > 0 {
		parts[len(parts)-1] = strings.TrimSuffix(parts[len(parts)-1], ",")
	}
	writeWrapped(b, "ws    ", parts, s.width())
}
