package lab

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// rawH2Get sends one GET on a fresh HTTP/2 connection to scenario name and
// returns the server's frames (SETTINGS, their ACKs and WINDOW_UPDATEs
// left out) until the stream ends or is reset, one line each.
func rawH2Get(t *testing.T, l *Lab, name string) []string {
	t.Helper()
	u := target(t, l, name)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	raw, err := dialLab(ctx, "tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	_ = raw.SetDeadline(time.Now().Add(5 * time.Second))
	tc := tls.Client(raw, &tls.Config{RootCAs: l.CAPool(), ServerName: u.Hostname(), NextProtos: []string{"h2"}})
	if err := tc.HandshakeContext(ctx); err != nil {
		t.Fatal(err)
	}
	if p := tc.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("ALPN %q, want h2", p)
	}
	if _, err := io.WriteString(tc, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(tc, tc)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", u.Host}, {":path", "/"}} {
		_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndStream: true, EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("after %q: %v", got, err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				_ = fr.WriteSettingsAck()
			}
		case *http2.WindowUpdateFrame:
		case *http2.MetaHeadersFrame:
			got = append(got, fmt.Sprintf("HEADERS %s end=%v", f.PseudoValue("status"), f.StreamEnded()))
			if f.StreamEnded() {
				return got
			}
		case *http2.DataFrame:
			got = append(got, fmt.Sprintf("DATA %d end=%v", len(f.Data()), f.StreamEnded()))
			if f.StreamEnded() {
				return got
			}
		case *http2.GoAwayFrame:
			got = append(got, fmt.Sprintf("GOAWAY %s last=%d %q", f.ErrCode, f.LastStreamID, f.DebugData()))
		case *http2.RSTStreamFrame:
			return append(got, fmt.Sprintf("RST_STREAM %s", f.ErrCode))
		default:
			got = append(got, f.Header().Type.String())
		}
	}
}

func TestH2Scenarios(t *testing.T) {
	l := startLab(t, Options{Only: []string{"h2-upload-stall", "h2-rst", "h2-goaway"}})

	want := []string{"HEADERS 200 end=false", "DATA 16384 end=false", "DATA 16384 end=false", "DATA 16384 end=false", "RST_STREAM INTERNAL_ERROR"}
	if got := rawH2Get(t, l, "h2-rst"); strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Errorf("h2-rst frames:\n got %q\nwant %q", got, want)
	}
	want = []string{"HEADERS 200 end=false", `GOAWAY NO_ERROR last=1 "lab: draining for restart"`, "DATA 3 end=true"}
	if got := rawH2Get(t, l, "h2-goaway"); strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Errorf("h2-goaway frames:\n got %q\nwant %q", got, want)
	}

	// Through net/http's HTTP/2 client: the reset surfaces as a stream
	// error after 48 KiB of the announced 1 MiB; the GOAWAY'd request completes.
	c := client(t, l, nil)
	resp, err := c.Get(target(t, l, "h2-rst").String())
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.ContentLength != h2RSTLength || len(body) != h2RSTFrames*h2RSTFrameSize ||
		err == nil || !strings.Contains(err.Error(), "INTERNAL_ERROR") {
		t.Errorf("h2-rst: %s length %d, read %d, err %v", resp.Proto, resp.ContentLength, len(body), err)
	}
	if resp, body := get(t, c, target(t, l, "h2-goaway").String()); resp.ProtoMajor != 2 || string(body) != "ok\n" {
		t.Errorf("h2-goaway: %s %q", resp.Proto, body)
	}

	// h2-upload-stall: the body file is there, and the server takes at
	// least one pause per burst to read it.
	file := filepath.Join(l.Dir(), H2UploadFile)
	data, err := os.ReadFile(file)
	if err != nil || len(data) != H2UploadSize {
		t.Fatalf("%s: %d bytes, %v", file, len(data), err)
	}
	if s, _ := l.Scenario("h2-upload-stall"); strings.Join(s.Args, " ") != "--data @"+file+" --timeout 5s" {
		t.Errorf("h2-upload-stall args %q", s.Args)
	}
	start := time.Now()
	resp, err = c.Post(target(t, l, "h2-upload-stall").String(), "application/octet-stream", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	took := time.Since(start)
	bursts := (H2UploadSize + h2UploadBurst - 1) / h2UploadBurst
	if resp.ProtoMajor != 2 || string(body) != fmt.Sprintf("received %d bytes\n", H2UploadSize) || took < time.Duration(bursts)*h2UploadPause {
		t.Errorf("h2-upload-stall: %s %q after %v, want the whole body after ≥ %v", resp.Proto, body, took, time.Duration(bursts)*h2UploadPause)
	}
}
