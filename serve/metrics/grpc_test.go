package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/pathlens/pathlens/probe"
)

func TestGRPCMessages(t *testing.T) {
	e := New()
	const tg, md = "grpc://127.0.0.1:50051", "stream"
	grpcRun := func(n int, ok bool) *probe.Result {
		return &probe.Result{Kind: "grpc", Success: ok, GRPC: &probe.GRPCInfo{Messages: n}}
	}
	help := "# HELP pathlens_grpc_messages_total gRPC response messages received by grpc/grpcs probes, failed runs included.\n# TYPE pathlens_grpc_messages_total counter\n"
	e.Observe(tg, md, grpcRun(100, true))
	e.Observe(tg, md, grpcRun(46, false))
	e.Observe(tg, md, grpcRun(0, false)) // the series stays, unchanged
	e.Observe("https://a.example/", "web", &probe.Result{Kind: "http", Success: true})
	expect(t, e, help+`pathlens_grpc_messages_total{module="stream",target="grpc://127.0.0.1:50051"} 146
`, NameGRPCMessages)
	e.Forget(tg)
	expect(t, e, "", NameGRPCMessages)
}

func TestBlackboxGRPC(t *testing.T) {
	r := &probe.Result{Kind: "grpcs", Success: false, TotalMS: 12,
		Phases: []probe.Phase{{Name: "dns", DurationMS: 2}, {Name: "connect", DurationMS: 1}, {Name: "tls", DurationMS: 4},
			{Name: "request", DurationMS: 1}, {Name: "wait", DurationMS: 3}, {Name: "stream", DurationMS: 1}},
		TLS:  &probe.TLSInfo{Version: "TLS 1.3"},
		GRPC: &probe.GRPCInfo{Health: true, HealthStatus: "NOT_SERVING", StatusOrigin: probe.GRPCStatusServer, Messages: 1}}
	reg := BlackboxRegistry(r)
	want := `# HELP probe_grpc_healthcheck_response Response HealthCheck response
# TYPE probe_grpc_healthcheck_response gauge
probe_grpc_healthcheck_response{serving_status="NOT_SERVING"} 1
probe_grpc_healthcheck_response{serving_status="SERVICE_UNKNOWN"} 0
probe_grpc_healthcheck_response{serving_status="SERVING"} 0
probe_grpc_healthcheck_response{serving_status="UNKNOWN"} 0
# HELP probe_grpc_ssl Indicates if SSL was used for the connection
# TYPE probe_grpc_ssl gauge
probe_grpc_ssl 1
# HELP probe_grpc_status_code Response gRPC status code
# TYPE probe_grpc_status_code gauge
probe_grpc_status_code 0
# HELP probe_grpc_duration_seconds Duration of gRPC request by phase
# TYPE probe_grpc_duration_seconds gauge
probe_grpc_duration_seconds{phase="check"} 0.01
probe_grpc_duration_seconds{phase="resolve"} 0.002
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "probe_grpc_healthcheck_response",
		"probe_grpc_ssl", "probe_grpc_status_code", "probe_grpc_duration_seconds"); err != nil {
		t.Error(err)
	}
}
