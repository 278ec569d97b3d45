package serve

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/klauspost/compress/snappy"
	"google.golang.org/protobuf/proto"

	"github.com/pathlens/pathlens/lab"
	"github.com/pathlens/pathlens/serve/remotewrite/prompb"
)

// With remote_write, every scheduled run reaches the receiver as samples
// labelled like the /metrics series, the target's own labels included.
func TestServeRemoteWrite(t *testing.T) {
	l, err := lab.Start(context.Background(), lab.Options{Dir: t.TempDir(), Only: []string{"ok-http"}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	s, _ := l.Scenario("ok-http")
	var mu sync.Mutex
	got := map[string]bool{}
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		raw, err := snappy.Decode(nil, body)
		var req prompb.WriteRequest
		if err == nil {
			err = proto.Unmarshal(raw, &req)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		for _, ts := range req.Timeseries {
			var parts []string
			for _, l := range ts.Labels {
				parts = append(parts, l.Name+"="+l.Value)
			}
			got[strings.Join(parts, ",")] = true
		}
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer recv.Close()
	base := startServe(t, fmt.Sprintf(`defaults: {interval: 1s, timeout: 500ms}
remote_write: [{url: %q}]
targets:
  - {name: web, url: %q, labels: {team: shop}}
`, recv.URL+"/api/v1/write", s.Target))
	want := "__name__=pathlens_probe_success,module=default,target=web,team=shop"
	eventually(t, "the success series received", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return got[want]
	})
	mu.Lock()
	if !got["__name__=pathlens_probe_last_phase_duration_seconds,module=default,phase=connect,target=web,team=shop"] {
		t.Errorf("no connect phase series among %v", got)
	}
	mu.Unlock()
	eventually(t, "samples counted", func() bool {
		_, m := get(t, base+"/metrics")
		return !strings.Contains(m, "pathlens_remote_write_samples_total 0\n") && strings.Contains(m, "pathlens_remote_write_samples_total ")
	})
}
