package output

import (
	"strings"
	"testing"

	"github.com/pathlens/pathlens/probe"
)

func grpcResult() *probe.Result {
	return &probe.Result{Schema: probe.Schema, Target: "grpc://127.0.0.1:50051", Kind: "grpc", TotalMS: 3,
		Phases: []probe.Phase{{Name: "connect", DurationMS: 0.4}, {Name: "request", StartMS: 0.4, DurationMS: 1},
			{Name: "wait", StartMS: 1.4, DurationMS: 1.2}, {Name: "stream", StartMS: 2.6, DurationMS: 0.4}},
		GRPC: &probe.GRPCInfo{StatusCode: 13, StatusName: "INTERNAL", StatusOrigin: probe.GRPCStatusClient,
			StatusMessage: "stream terminated by RST_STREAM with error code: INTERNAL_ERROR\x1b[31m", Messages: 46, Bytes: 4600,
			GapsMS: []float64{0.1, 0.2, 0.05}, MaxGapMS: 0.2, Method: "/pathlens.lab.Stream/Messages", ExpectMessages: 100,
			NoTrailers: true, ResetCode: "INTERNAL_ERROR", Window: 65535},
		Findings: []probe.Finding{}}
}

func TestHumanGRPC(t *testing.T) {
	got := string(render(t, grpcResult(), Style{Width: 200}))
	for _, want := range []string{
		"grpc  /pathlens.lab.Stream/Messages INTERNAL (client)", "46/100 messages, 4.5 KiB",
		"gap median 0.10 ms max 0.20 ms", "RESET INTERNAL_ERROR, no trailers", "window stream 65535 conn default",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "\x1b") {
		t.Errorf("a server's status message reached the terminal unescaped:\n%q", got)
	}

	h := grpcResult()
	h.GRPC = &probe.GRPCInfo{Health: true, Service: "", HealthStatus: "NOT_SERVING", StatusName: "OK",
		StatusOrigin: probe.GRPCStatusServer, Messages: 1, Bytes: 2, Method: "/grpc.health.v1.Health/Check", ExpectMessages: 1}
	got = string(render(t, h, Style{Width: 200}))
	if !strings.Contains(got, `grpc  health "" OK, NOT_SERVING, 1 message, 2 B`) {
		t.Errorf("health line:\n%s", got)
	}

	// A call that never happened says so.
	n := grpcResult()
	n.GRPC = &probe.GRPCInfo{Method: "/a.B/C", GapsMS: []float64{}}
	if got = string(render(t, n, Style{Width: 200})); !strings.Contains(got, "grpc  /a.B/C no call") {
		t.Errorf("no-call line:\n%s", got)
	}
}
