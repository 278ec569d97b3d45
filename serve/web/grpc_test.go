package web

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pathlens/pathlens/lab"
)

// gRPC targets flow through config, a real probe, storage and State to the
// target page and the run page, which show the call's gRPC line.
func TestGRPCTargetPage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	l, err := lab.Start(ctx, lab.Options{Dir: filepath.Join(dir, "lab"), Only: []string{"grpc-health-ok", "grpc-stream-truncated"}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	m := l.Manifest()
	hs, _ := l.Scenario("grpc-health-ok")
	tr, _ := l.Scenario("grpc-stream-truncated")
	yaml := fmt.Sprintf(`modules:
  health: {kind: grpc, tls: {ca_file: %q}, dns: {server: %q}}
  stream: {kind: grpc, grpc: {method: /pathlens.lab.Stream/Messages, expect_messages: 100}}
targets:
  - {name: health, url: %q, module: health}
  - {name: stream, url: %q, module: stream}
`, m.CAFile, m.DNSServer, hs.Target, tr.Target)
	_, st, srv := serveProbed(t, ctx, dir, yaml)
	c := newClient(t, srv)

	res := c.get("/targets/health")
	res.want(t, "health target page", 200, "text/html")
	for _, want := range []string{"<dt>gRPC</dt>", "health check of &#34;&#34;", `<span class="ok">OK</span>`, `health <span class="ok">SERVING</span>`, "1 message, 2 B"} {
		if !strings.Contains(res.body, want) {
			t.Errorf("health page lacks %q", want)
		}
	}
	res = c.get("/targets/stream")
	res.want(t, "stream target page", 200, "text/html")
	for _, want := range []string{"/pathlens.lab.Stream/Messages", `<span class="bad">INTERNAL</span> (from the client)`,
		`<span class="bad">46 of 100 expected messages</span>`, "stream reset (INTERNAL_ERROR), no trailers", "GRPC_STREAM_TRUNCATED",
		"stream terminated by RST_STREAM with error code: INTERNAL_ERROR"} {
		if !strings.Contains(res.body, want) {
			t.Errorf("stream page lacks %q", want)
		}
	}
	// The run page has the same line.
	sr, ok, err := st.Latest(ctx, "stream")
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	res = c.get(fmt.Sprintf("/runs/%d", sr.ID))
	res.want(t, "run page", 200, "text/html")
	if !strings.Contains(res.body, "stream reset (INTERNAL_ERROR), no trailers") {
		t.Errorf("run page lacks the gRPC line")
	}
	// The JSON API carries the grpc block.
	res = c.get("/api/v1/targets/stream/results")
	res.want(t, "results API", 200, "application/json")
	if !strings.Contains(res.body, `"grpc": {`) || !strings.Contains(res.body, `"messages": 46`) {
		t.Errorf("results API lacks the grpc block: %.500s", res.body)
	}
}
