package web

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/pathlens/pathlens/internal/units"
	"github.com/pathlens/pathlens/probe"
)

// grpcView is the gRPC line of a target's latest run (and of a run page):
// method, status, health answer, messages, bytes, gaps, trailers.
type grpcView struct {
	Method   string
	Status   string
	StatusOK bool
	Origin   string // "" when the server sent the status
	Message  string
	Health   string
	HealthOK bool
	Messages string
	Short    bool // fewer messages than expected
	Bytes    string
	Gaps     string
	Trouble  string // reset or missing trailers
	Window   string
}

// newGRPCView returns the gRPC line of r, or nil when r is not a gRPC probe.
func newGRPCView(r *probe.Result) *grpcView {
	if r == nil || r.GRPC == nil {
		return nil
	}
	g := r.GRPC
	v := &grpcView{Method: g.Method, Bytes: units.Bytes(g.Bytes)}
	if g.Health {
		v.Method = "health check of " + strconv.Quote(g.Service)
	}
	switch {
	case g.StatusOrigin == "":
		v.Status = "no call"
	default:
		v.Status, v.StatusOK = g.StatusName, g.StatusCode == 0
		if v.Status == "" {
			v.Status = "code " + strconv.Itoa(g.StatusCode)
		}
		if g.StatusCode != 0 {
			v.Message = g.StatusMessage
			if g.StatusOrigin != probe.GRPCStatusServer {
				v.Origin = "from the " + g.StatusOrigin
			}
		}
	}
	if g.HealthStatus != "" {
		v.Health, v.HealthOK = g.HealthStatus, g.HealthStatus == "SERVING"
	}
	v.Messages = fmt.Sprintf("%d message%s", g.Messages, grpcPlural(g.Messages))
	if g.ExpectMessages > 0 && !g.Health {
		v.Messages = fmt.Sprintf("%d of %d expected messages", g.Messages, g.ExpectMessages)
		v.Short = g.Messages < g.ExpectMessages
	}
	if n := len(g.GapsMS); n > 0 {
		sorted := slices.Clone(g.GapsMS)
		slices.Sort(sorted)
		v.Gaps = "gap median " + units.MS(sorted[n/2]) + ", max " + units.MS(g.MaxGapMS)
	}
	switch {
	case g.ResetCode != "":
		v.Trouble = "stream reset (" + g.ResetCode + "), no trailers"
	case g.NoTrailers:
		v.Trouble = "no trailers"
	}
	if g.Window > 0 || g.ConnWindow > 0 {
		v.Window = fmt.Sprintf("windows: stream %s, connection %s", grpcWindow(g.Window), grpcWindow(g.ConnWindow))
	}
	return v
}

func grpcWindow(w int32) string {
	if w == 0 {
		return "default"
	}
	return units.Bytes(int64(w))
}

func grpcPlural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
