package httpx_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/pathlens/pathlens/internal/probetest"
	"github.com/pathlens/pathlens/probe"
)

// bodyAssertions is a probe.Assertions that only says whether it reads
// the body.
type bodyAssertions bool

func (b bodyAssertions) NeedsBody() bool                                        { return bool(b) }
func (bodyAssertions) Check(_ context.Context, _ *probe.Result) []probe.Finding { return nil }

// The body is kept only when asked for (KeepBody, or assertions that read
// it), as decoded, up to MaxBody, on HTTP/1.1 and HTTP/2 alike, and never
// reaches the JSON form of the Result.
func TestKeepBody(t *testing.T) {
	payload := bytes.Repeat([]byte("pathlens "), 1000) // 9000 bytes
	mux := http.NewServeMux()
	mux.HandleFunc("/plain", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(payload) })
	mux.HandleFunc("/gzip", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		gz := gzip.NewWriter(w)
		_, _ = gz.Write(payload)
		_ = gz.Close()
	})
	mux.HandleFunc("/empty", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	h1 := newServer(t, modeHTTP, mux, nil)
	h2 := newServer(t, modeH2TLS, mux, nil)
	for _, srv := range []*httptest.Server{h1, h2} {
		proto := "h1"
		if srv == h2 {
			proto = "h2"
		}
		cases := []struct {
			name    string
			path    string
			set     func(o *probe.Options)
			want    []byte // nil: not kept
			limited bool
		}{
			{"default", "/plain", func(*probe.Options) {}, nil, false},
			{"assertions without body", "/plain", func(o *probe.Options) { o.Assertions = bodyAssertions(false) }, nil, false},
			{"assertions with body", "/plain", func(o *probe.Options) { o.Assertions = bodyAssertions(true) }, payload, false},
			{"keep body", "/plain", func(o *probe.Options) { o.KeepBody = true }, payload, false},
			{"max body", "/plain", func(o *probe.Options) { o.KeepBody, o.MaxBody = true, 1000 }, payload[:1000], true},
			{"decoded", "/gzip", func(o *probe.Options) { o.KeepBody = true }, payload, false},
			{"empty", "/empty", func(o *probe.Options) { o.KeepBody = true }, []byte{}, false},
		}
		for _, c := range cases {
			t.Run(proto+"/"+c.name, func(t *testing.T) {
				o := opts(srv)
				c.set(o)
				r := probetest.Run(t, srv.URL+c.path, o)
				probetest.MustSucceed(t, r)
				switch {
				case c.want == nil && r.Body != nil:
					t.Errorf("body kept (%d bytes), want none", len(r.Body))
				case c.want != nil && !bytes.Equal(r.Body, c.want):
					t.Errorf("body = %d bytes %.20q…, want %d bytes", len(r.Body), r.Body, len(c.want))
				case c.want != nil && r.Body == nil:
					t.Errorf("body nil, want kept (empty)")
				}
				if r.HTTP.BodyLimited != c.limited {
					t.Errorf("body_limited = %v, want %v", r.HTTP.BodyLimited, c.limited)
				}
				js, err := json.Marshal(r)
				if err != nil {
					t.Fatal(err)
				}
				if bytes.Contains(js, []byte("pathlens pathlens")) {
					t.Errorf("the body reached the JSON form of the Result")
				}
			})
		}
	}
}
