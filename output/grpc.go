package output

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"

	"github.com/pathlens/pathlens/internal/units"
	"github.com/pathlens/pathlens/probe"
)

// writeGRPC writes the gRPC call's summary: method, status (and where it
// came from when not the server), health answer, messages and bytes, the
// gaps between messages, and what went wrong with the trailers.
func writeGRPC(b *bytes.Buffer, g *probe.GRPCInfo, s Style) {
	if g == nil {
		return
	}
	parts := []string{clean(g.Method)}
	if g.Health {
		svc := strconv.Quote(g.Service)
		parts = []string{"health " + clean(svc)}
	}
	if g.StatusOrigin != "" {
		name := g.StatusName
		if name == "" {
			name = "code " + strconv.Itoa(g.StatusCode)
		}
		st := name
		if g.StatusCode == 0 {
			st = s.paint(ansiGreen, st)
		} else {
			st = s.paint(ansiRed, st)
			if g.StatusOrigin != probe.GRPCStatusServer {
				st += " (" + g.StatusOrigin + ")"
			}
			if g.StatusMessage != "" {
				msg := g.StatusMessage
				if len(msg) > 120 {
					msg = msg[:120] + "…"
				}
				st += " " + clean(strconv.Quote(msg))
			}
		}
		parts = append(parts, st+",")
	}
	if g.HealthStatus != "" {
		hs := g.HealthStatus
		if hs == "SERVING" {
			hs = s.paint(ansiGreen, hs)
		} else {
			hs = s.paint(ansiRed, hs)
		}
		parts = append(parts, hs+",")
	}
	if g.StatusOrigin == "" && g.Messages == 0 {
		// The call never got going (config, dns, connect or tls failed).
		parts = append(parts, s.paint(ansiRed, "no call"))
		writeWrapped(b, "grpc  ", parts, s.width())
		return
	}
	msgs := fmt.Sprintf("%d message%s", g.Messages, plural(g.Messages))
	if g.ExpectMessages > 0 && !g.Health {
		msgs = fmt.Sprintf("%d/%d messages", g.Messages, g.ExpectMessages)
		if g.Messages < g.ExpectMessages {
			msgs = s.paint(ansiRed, msgs)
		}
	}
	parts = append(parts, msgs+",", units.Bytes(g.Bytes))
	if n := len(g.GapsMS); n > 0 {
		sorted := slices.Clone(g.GapsMS)
		slices.Sort(sorted)
		parts[len(parts)-1] += ","
		parts = append(parts, "gap median "+units.MS(sorted[n/2]), "max "+units.MS(g.MaxGapMS))
	}
	switch {
	case g.ResetCode != "":
		parts = append(parts, s.paint(ansiRed, "RESET "+clean(g.ResetCode)+", no trailers"))
	case g.NoTrailers:
		parts = append(parts, s.paint(ansiRed, "NO TRAILERS"))
	}
	if g.Window > 0 || g.ConnWindow > 0 {
		parts = append(parts, fmt.Sprintf("window stream %s conn %s", windowWord(g.Window), windowWord(g.ConnWindow)))
	}
	writeWrapped(b, "grpc  ", parts, s.width())
}

func windowWord(w int32) string {
	if w == 0 {
		return "default"
	}
	return strconv.Itoa(int(w))
}
