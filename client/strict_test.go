package client_test

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"testing"

	"github.com/pathlens/pathlens/client"
	"github.com/pathlens/pathlens/diagnose"
	"github.com/pathlens/pathlens/internal/probetest"
	"github.com/pathlens/pathlens/probe"
)

// TestStrictContentLengthLab: the lab's http-truncated server announces
// 1000 bytes, sends 100 and closes. Under WithStrictContentLength the
// read fails with a *TruncatedError saying so; the observed Result is
// marked truncated and diagnoses as HTTP_BODY_TRUNCATED, as a probe would.
func TestStrictContentLengthLab(t *testing.T) {
	l := probetest.StartLab(t, "http-truncated")
	sc := probetest.LabScenario(t, l, "http-truncated")

	cases := []struct {
		name   string
		strict bool
	}{
		{"strict", true},
		{"not strict (net/http's own io.ErrUnexpectedEOF)", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var col collector
			opts := []client.Option{client.WithObserver(col.observe)}
			if tc.strict {
				opts = append(opts, client.WithStrictContentLength())
			}
			c := client.New(opts...)
			defer c.CloseIdleConnections()
			resp, err := c.Get(sc.Target)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			cerr := resp.Body.Close()
			if len(body) != 100 || err == nil {
				t.Fatalf("read %d bytes, err %v", len(body), err)
			}
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("err %v does not match io.ErrUnexpectedEOF", err)
			}
			var te *client.TruncatedError
			if got := errors.As(err, &te); got != tc.strict || errors.Is(err, client.ErrTruncated) != tc.strict {
				t.Fatalf("strict=%v but err = %T %v", tc.strict, err, err)
			}
			if tc.strict {
				if te.Got != 100 || te.Want != 1000 || te.URL != sc.Target {
					t.Errorf("TruncatedError %+v", te)
				}
				if !errors.Is(cerr, client.ErrTruncated) {
					t.Errorf("Close() = %v, want the truncation again", cerr)
				}
			}
			r := col.last(t)
			if r.Success || r.HTTP == nil || !r.HTTP.Truncated || r.HTTP.BodyBytes != 100 || r.HTTP.ContentLength != 1000 {
				t.Fatalf("Result success=%v http=%+v", r.Success, r.HTTP)
			}
			if r.Error == nil || r.Error.Phase != probe.PhaseTransfer || r.Error.Cause != "truncated" || r.Error.Class != probe.ClassHTTP {
				t.Errorf("error %+v", r.Error)
			}
			if p := r.Phases[len(r.Phases)-1]; p.Name != probe.PhaseTransfer || !p.Incomplete {
				t.Errorf("last phase %+v, want an incomplete transfer", p)
			}
			fs := diagnose.Diagnose(&r)
			if len(fs) == 0 || fs[0].ID != diagnose.IDHTTPBodyTruncated {
				t.Errorf("findings %+v, want HTTP_BODY_TRUNCATED", fs)
			}
			for _, f := range fs {
				if f.ID == diagnose.IDHTTPBodyTruncated && sc.Expect[0] != f.ID {
					t.Errorf("lab expects %v", sc.Expect)
				}
			}
		})
	}
}

// TestStrictContentLengthCases: what strict mode checks and what it
// leaves alone, on bodies a wrapping transport reports as a clean EOF.
func TestStrictContentLengthCases(t *testing.T) {
	cases := []struct {
		name    string
		method  string
		status  int
		length  int64 // announced
		send    int   // bytes in the body
		wantErr bool
	}{
		{"complete body", "GET", 200, 10, 10, false},
		{"short body ending in EOF", "GET", 200, 10, 4, true},
		{"unknown length", "GET", 200, -1, 4, false},
		{"HEAD announces a length with no body", "HEAD", 200, 10, 0, false},
		{"empty body, zero length", "GET", 200, 0, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := client.New(client.WithStrictContentLength())
			defer c.CloseIdleConnections()
			// Put a lying transport under the client: it answers with a body
			// that ends cleanly whatever Content-Length says.
			base := c.Transport.(*client.Transport).Base()
			base.RegisterProtocol("fake", fakeRT{tc.status, tc.length, tc.send})
			req, _ := http.NewRequest(tc.method, "fake://x/", nil)
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			if (err != nil) != tc.wantErr || (err != nil && !errors.Is(err, client.ErrTruncated)) {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
		})
	}
}

type fakeRT struct {
	status int
	length int64
	send   int
}

func (f fakeRT) RoundTrip(req *http.Request) (*http.Response, error) {
	h := http.Header{}
	if f.length >= 0 {
		h.Set("Content-Length", strconv.FormatInt(f.length, 10))
	}
	var body io.ReadCloser = io.NopCloser(io.LimitReader(zeros{}, int64(f.send)))
	if req.Method == "HEAD" {
		body = http.NoBody
	}
	return &http.Response{StatusCode: f.status, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: h,
		ContentLength: f.length, Body: body, Request: req}, nil
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
