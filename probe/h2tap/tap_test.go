package h2tap

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/pathlens/pathlens/probe"
	"go.uber.org/goleak"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// nopConn is a net.Conn that Wrap can hold in tests that feed bytes directly.
type nopConn struct{ net.Conn }

var t0 = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)

// wire builds a byte stream with a Framer.
type wire struct {
	buf bytes.Buffer
	fr  *http2.Framer
	hb  bytes.Buffer
	enc *hpack.Encoder
}

func newWire(preface bool) *wire {
	w := &wire{}
	if preface {
		w.buf.WriteString(http2.ClientPreface)
	}
	w.fr = http2.NewFramer(&w.buf, nil)
	w.fr.AllowIllegalWrites = true
	w.enc = hpack.NewEncoder(&w.hb)
	return w
}

func (w *wire) block(kv ...string) []byte {
	w.hb.Reset()
	for i := 0; i+1 < len(kv); i += 2 {
		_ = w.enc.WriteField(hpack.HeaderField{Name: kv[i], Value: kv[i+1]})
	}
	return append([]byte{}, w.hb.Bytes()...)
}

// sample returns a client stream and a server stream exercising every
// frame type the tap decodes.
func sample(t *testing.T) (send, recv []byte) {
	t.Helper()
	c := newWire(true)
	must(t, c.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 4 << 20}, http2.Setting{ID: http2.SettingMaxFrameSize, Val: 1 << 20}))
	must(t, c.fr.WriteWindowUpdate(0, 1<<30))
	must(t, c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: c.block(":method", "GET", ":path", "/"), EndStream: true, EndHeaders: true}))
	must(t, c.fr.WritePing(false, [8]byte{1, 2, 3, 4, 5, 6, 7, 8}))
	must(t, c.fr.WriteSettingsAck())

	s := newWire(false)
	must(t, s.fr.WriteSettings(http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 100}, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 65535}))
	must(t, s.fr.WriteSettingsAck())
	must(t, s.fr.WritePing(true, [8]byte{1, 2, 3, 4, 5, 6, 7, 8}))
	// A header block split over HEADERS (padded, with priority) and CONTINUATION.
	blk := s.block(":status", "200", "content-type", "text/plain", "x-long", strings.Repeat("v", 300))
	must(t, s.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: blk[:10], PadLength: 7,
		Priority: http2.PriorityParam{StreamDep: 0, Weight: 15}}))
	must(t, s.fr.WriteContinuation(1, true, blk[10:]))
	must(t, s.fr.WriteDataPadded(1, false, make([]byte, 1000), make([]byte, 24)))
	must(t, s.fr.WriteWindowUpdate(1, 5000))
	must(t, s.fr.WriteRawFrame(0xfa, 0x3, 0, []byte("unknown")))
	must(t, s.fr.WriteDataPadded(1, true, make([]byte, 10), nil))
	must(t, s.fr.WriteRSTStream(3, http2.ErrCodeInternal))
	must(t, s.fr.WriteGoAway(1, http2.ErrCodeNo, []byte("bye\x00\n"+strings.Repeat("x", 400))))
	return c.buf.Bytes(), s.buf.Bytes()
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// feedIn feeds b to one direction in chunks of the sizes next returns.
func feedIn(c *Conn, d int, b []byte, at time.Time, next func() int) {
	for len(b) > 0 {
		n := min(next(), len(b))
		c.t.p[d].feed(b[:n], at)
		b = b[n:]
	}
}

func TestParseSample(t *testing.T) {
	send, recv := sample(t)
	whole := Wrap(nopConn{}, t0, Options{})
	feedIn(whole, dirSend, send, t0.Add(time.Millisecond), func() int { return len(send) })
	feedIn(whole, dirRecv, recv, t0.Add(3*time.Millisecond), func() int { return len(recv) })
	in := whole.Info()

	types := []string{}
	for _, f := range in.Frames {
		types = append(types, f.Dir+" "+f.Type)
	}
	wantTypes := []string{"send SETTINGS", "send WINDOW_UPDATE", "send HEADERS", "send PING", "send SETTINGS",
		"recv SETTINGS", "recv SETTINGS", "recv PING", "recv HEADERS", "recv CONTINUATION", "recv DATA", "recv WINDOW_UPDATE",
		"recv UNKNOWN_0xfa", "recv DATA", "recv RST_STREAM", "recv GOAWAY"}
	if !reflect.DeepEqual(types, wantTypes) {
		t.Fatalf("frames:\n got %q\nwant %q", types, wantTypes)
	}
	if in.ParseError != "" || in.FramesTotal != len(wantTypes) || in.FramesDropped != 0 {
		t.Errorf("parse error %q, total %d, dropped %d", in.ParseError, in.FramesTotal, in.FramesDropped)
	}
	f := in.Frames
	if f[0].Settings["INITIAL_WINDOW_SIZE"] != 4<<20 || f[0].Settings["MAX_FRAME_SIZE"] != 1<<20 || f[0].AtMS != 1 || f[0].Len != 12 {
		t.Errorf("client SETTINGS %+v", f[0])
	}
	if f[1].Window != 1<<30 || f[4].Flags != "ACK" || f[2].Flags != "END_STREAM|END_HEADERS" {
		t.Errorf("frames 1,2,4: %+v %+v %+v", f[1], f[2], f[4])
	}
	if f[7].Flags != "ACK" || f[7].PingRTTMS != 2 {
		t.Errorf("PING ACK %+v, want RTT 2 ms", f[7])
	}
	if f[8].Flags != "PADDED|PRIORITY" || f[8].Status != 0 || f[9].Flags != "END_HEADERS" || f[9].Status != 200 {
		t.Errorf("header block: %+v / %+v (status belongs to the frame that ends the block)", f[8], f[9])
	}
	if f[10].Len != 1000+24+1 || f[10].Flags != "PADDED" || f[13].Flags != "END_STREAM" {
		t.Errorf("DATA %+v / %+v: length counts padding and its length byte", f[10], f[13])
	}
	if f[11].Window != 5000 || f[12].Flags != "0x03" || f[12].Len != 7 {
		t.Errorf("WINDOW_UPDATE %+v, unknown %+v", f[11], f[12])
	}
	if f[14].ErrCode != "INTERNAL_ERROR" || f[14].Stream != 3 {
		t.Errorf("RST_STREAM %+v", f[14])
	}
	g := f[15]
	if g.ErrCode != "NO_ERROR" || g.LastStream != 1 || !strings.HasPrefix(g.Debug, `bye\x00\x0axxx`) || !strings.HasSuffix(g.Debug, "…") || len(g.Debug) > 300 {
		t.Errorf("GOAWAY %+v", g)
	}
	if in.GoAway == nil || in.GoAway.Code != "NO_ERROR" || in.GoAway.Streams != 1 || in.GoAway.Debug != g.Debug || in.GoAway.Pending != 0 {
		t.Errorf("GoAway %+v", in.GoAway)
	}
	wantSettings := map[string]map[string]uint32{
		"client": {"INITIAL_WINDOW_SIZE": 4 << 20, "MAX_FRAME_SIZE": 1 << 20},
		"server": {"MAX_CONCURRENT_STREAMS": 100, "INITIAL_WINDOW_SIZE": 65535},
	}
	if !reflect.DeepEqual(in.Settings, wantSettings) {
		t.Errorf("settings %v", in.Settings)
	}
	if in.Counts["recv"]["DATA"] != 2 || in.Counts["send"]["SETTINGS"] != 2 || in.Counts["recv"]["UNKNOWN_0xfa"] != 1 {
		t.Errorf("counts %v", in.Counts)
	}
	wantStreams := []probe.H2Stream{
		{ID: 1, Status: 200, SendWindow: 65535, RecvWindow: 4 << 20, RecvFrames: 2, RecvBytes: 1025 + 10, SentEnd: true, RecvEnd: true},
		{ID: 3, SendWindow: 65535, RecvWindow: 4 << 20, Reset: "INTERNAL_ERROR", ResetDir: "recv", ResetAtMS: 3},
	}
	if !reflect.DeepEqual(in.Streams, wantStreams) {
		t.Errorf("streams:\n got %+v\nwant %+v", in.Streams, wantStreams)
	}

	// Any chunking gives the same result: one byte at a time, random sizes.
	for name, next := range map[string]func() int{
		"bytes":  func() int { return 1 },
		"random": func() func() int { r := rand.New(rand.NewPCG(1, 2)); return func() int { return 1 + r.IntN(40) } }(),
	} {
		c := Wrap(nopConn{}, t0, Options{})
		feedIn(c, dirSend, send, t0.Add(time.Millisecond), next)
		feedIn(c, dirRecv, recv, t0.Add(3*time.Millisecond), next)
		if got := c.Info(); !reflect.DeepEqual(got, in) {
			t.Errorf("%s: chunked parse differs:\n got %+v\nwant %+v", name, got, in)
		}
	}
}

func TestHostileInput(t *testing.T) {
	t.Run("frame longer than MAX_FRAME_SIZE stops the direction", func(t *testing.T) {
		c := Wrap(nopConn{}, t0, Options{})
		s := newWire(false)
		must(t, s.fr.WriteSettings())
		hdr := []byte{0xff, 0xff, 0xff, byte(http2.FrameHeaders), 0x4, 0, 0, 0, 1}
		c.t.p[dirRecv].feed(append(s.buf.Bytes(), hdr...), t0)
		c.t.p[dirRecv].feed(bytes.Repeat([]byte{0}, 1<<20), t0) // ignored
		in := c.Info()
		if in.FramesTotal != 1 || in.ParseErrors != 1 || !strings.Contains(in.ParseError, "HEADERS frame of 16777215 bytes exceeds the receiver's MAX_FRAME_SIZE 16384") {
			t.Errorf("total %d, errors %d %q", in.FramesTotal, in.ParseErrors, in.ParseError)
		}
		if p := c.t.p[dirRecv]; !p.dead || cap(p.buf) > 64 {
			t.Errorf("dead %v, buffer cap %d", p.dead, cap(p.buf))
		}
	})
	t.Run("no client preface", func(t *testing.T) {
		c := Wrap(nopConn{}, t0, Options{})
		c.t.p[dirSend].feed([]byte("GET / HTTP/1.1\r\n\r\n"), t0)
		if in := c.Info(); in.ParseError != "send: no HTTP/2 client preface" || in.FramesTotal != 0 {
			t.Errorf("%+v", in)
		}
	})
	t.Run("oversized HEADERS within the limit: recorded by header, not decoded", func(t *testing.T) {
		c := Wrap(nopConn{}, t0, Options{})
		w := newWire(true)
		must(t, w.fr.WriteSettings(http2.Setting{ID: http2.SettingMaxFrameSize, Val: 1 << 20}))
		c.t.p[dirSend].feed(w.buf.Bytes(), t0)
		s := newWire(false)
		blk := s.block(":status", "200", "x-big", strings.Repeat("b", 100<<10))
		must(t, s.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: blk, EndHeaders: true}))
		blk = s.block(":status", "204")
		must(t, s.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: blk, EndHeaders: true, EndStream: true}))
		c.t.p[dirRecv].feed(s.buf.Bytes(), t0)
		in := c.Info()
		if len(in.Frames) != 3 || in.Frames[1].Len <= maxBuffered || in.Frames[1].Status != 0 || in.Frames[2].Status != 0 || in.ParseError != "" {
			t.Errorf("%+v", in.Frames)
		}
		if cap(c.t.p[dirRecv].buf) > maxBuffered+9 {
			t.Errorf("buffer grew to %d", cap(c.t.p[dirRecv].buf))
		}
	})
	t.Run("malformed SETTINGS: counted, parse goes on", func(t *testing.T) {
		c := Wrap(nopConn{}, t0, Options{})
		s := newWire(false)
		must(t, s.fr.WriteRawFrame(http2.FrameSettings, 0, 0, []byte{1, 2, 3, 4, 5})) // not a multiple of 6
		must(t, s.fr.WritePing(false, [8]byte{}))
		c.t.p[dirRecv].feed(s.buf.Bytes(), t0)
		in := c.Info()
		if in.ParseErrors != 1 || in.FramesTotal != 2 || in.Frames[1].Type != "PING" {
			t.Errorf("%+v", in)
		}
	})
}

// A flood of tiny frames keeps MaxFrames frames (plus notable ones) and
// counts the rest, in bounded memory.
func TestFloodBounded(t *testing.T) {
	c := Wrap(nopConn{}, t0, Options{MaxFrames: 100})
	s := newWire(false)
	must(t, s.fr.WriteSettings())
	for range 1000 {
		must(t, s.fr.WritePing(false, [8]byte{9}))
	}
	chunk := s.buf.Bytes()[9:] // 1000 PINGs
	c.t.p[dirRecv].feed(s.buf.Bytes()[:9], t0)

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const rounds = 1000 // 1,000,000 PINGs
	for range rounds {
		c.t.p[dirRecv].feed(chunk, t0)
	}
	g := newWire(false)
	must(t, g.fr.WriteGoAway(0, http2.ErrCodeEnhanceYourCalm, []byte("too many pings")))
	c.t.p[dirRecv].feed(g.buf.Bytes(), t0)
	runtime.GC()
	runtime.ReadMemStats(&after)
	in := c.Info()
	if in.FramesTotal != 1+rounds*1000+1 || len(in.Frames) != 101 || in.FramesDropped != in.FramesTotal-101 {
		t.Errorf("total %d, kept %d, dropped %d", in.FramesTotal, len(in.Frames), in.FramesDropped)
	}
	if last := in.Frames[len(in.Frames)-1]; last.Type != "GOAWAY" || in.GoAway == nil || in.GoAway.Code != "ENHANCE_YOUR_CALM" {
		t.Errorf("the GOAWAY after the flood is not kept: %+v", last)
	}
	if in.Counts["recv"]["PING"] != rounds*1000 {
		t.Errorf("counts %v", in.Counts)
	}
	if grew := int64(after.HeapInuse) - int64(before.HeapInuse); grew > 4<<20 {
		t.Errorf("heap grew %d KiB over a million frames", grew>>10)
	}
}

func TestReset(t *testing.T) {
	send, recv := sample(t)
	c := Wrap(nopConn{}, t0, Options{})
	c.t.p[dirSend].feed(send, t0)
	c.t.p[dirRecv].feed(recv, t0)
	t1 := t0.Add(time.Second)
	c.Reset(t1)
	w := newWire(false)
	must(t, w.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 5, BlockFragment: w.block(":method", "GET"), EndStream: true, EndHeaders: true}))
	c.t.p[dirSend].feed(w.buf.Bytes(), t1.Add(2*time.Millisecond))
	in := c.Info()
	if in.FramesTotal != 1 || in.Frames[0].AtMS != 2 || in.GoAway != nil || len(in.Streams) != 1 || in.Streams[0].ID != 5 {
		t.Errorf("after Reset: %+v", in)
	}
	if in.Settings["server"]["MAX_CONCURRENT_STREAMS"] != 100 {
		t.Errorf("settings lost: %v", in.Settings)
	}
}

// Tap transparency: the same download over TLS h2 and h2c, with and
// without the tap, yields identical bytes; the tap's accounting matches.
func TestTransparent(t *testing.T) {
	defer goleak.VerifyNone(t)
	body := make([]byte, 8<<20+123)
	r := rand.New(rand.NewPCG(7, 7))
	for i := range body {
		body[i] = byte(r.Uint32())
	}
	want := sha256.Sum256(body)
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(body) })

	tlsSrv := httptest.NewUnstartedServer(h)
	tlsSrv.EnableHTTP2 = true
	tlsSrv.StartTLS()
	defer tlsSrv.Close()
	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetUnencryptedHTTP2(true)
	h2cSrv := httptest.NewUnstartedServer(h)
	h2cSrv.Config.Protocols = &protos
	h2cSrv.Start()
	defer h2cSrv.Close()

	roots := tlsSrv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	for _, tc := range []struct {
		name string
		srv  *httptest.Server
		tls  bool
	}{{"tls", tlsSrv, true}, {"h2c", h2cSrv, false}} {
		for _, tapped := range []bool{false, true} {
			var tap *Conn
			dial := func(ctx context.Context) (net.Conn, error) {
				var d net.Dialer
				c, err := d.DialContext(ctx, "tcp", tc.srv.Listener.Addr().String())
				if err != nil {
					return nil, err
				}
				if tc.tls {
					tlc := tls.Client(c, &tls.Config{RootCAs: roots, ServerName: "example.com", NextProtos: []string{"h2"}})
					if err := tlc.HandshakeContext(ctx); err != nil {
						c.Close()
						return nil, err
					}
					c = tlc
				}
				if tapped {
					tap = Wrap(c, time.Now(), Options{})
					return tap, nil
				}
				return c, nil
			}
			hs := sha256.New()
			n, err := fetchOver(tc.srv.URL, dial, hs)
			if err != nil {
				t.Fatalf("%s tapped=%v: %v", tc.name, tapped, err)
			}
			if n != int64(len(body)) || !bytes.Equal(hs.Sum(nil), want[:]) {
				t.Errorf("%s tapped=%v: %d bytes, digest match %v", tc.name, tapped, n, bytes.Equal(hs.Sum(nil), want[:]))
			}
			if !tapped {
				continue
			}
			in := tap.Info()
			if in.ParseError != "" || len(in.Streams) != 1 {
				t.Fatalf("%s: parse error %q, streams %+v", tc.name, in.ParseError, in.Streams)
			}
			s := in.Streams[0]
			if s.Status != 200 || s.RecvBytes != int64(len(body)) || !s.RecvEnd || s.RecvFrames != in.Counts["recv"]["DATA"] {
				t.Errorf("%s: stream %+v, counts %v", tc.name, s, in.Counts)
			}
			if in.Settings["client"]["INITIAL_WINDOW_SIZE"] == 0 || len(in.Settings["server"]) == 0 {
				t.Errorf("%s: settings %v", tc.name, in.Settings)
			}
			for i := 1; i < len(in.Frames); i++ {
				if in.Frames[i].AtMS < 0 {
					t.Errorf("%s: frame %d at %v ms", tc.name, i, in.Frames[i].AtMS)
				}
			}
		}
	}
}

// fetchOver GETs url on the connection dial makes, as probe/httpx does: a
// net/http ClientConn from a Transport whose one dial is dial, HTTP/2 by
// prior knowledge over TLS or TCP alike (net/http sees no *tls.Conn
// beneath the tap). The body goes to w.
func fetchOver(url string, dial func(context.Context) (net.Conn, error), w io.Writer) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &protos, DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return dial(ctx) }}
	cc, err := tr.NewClientConn(ctx, "http", "pathlens.test:80")
	if err != nil {
		return 0, err
	}
	defer cc.Close()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := cc.RoundTrip(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	return io.Copy(w, resp.Body)
}

// A GOAWAY that answers pathlens's own (as it closes the connection) is
// not the server's initiative: it stays in the timeline but not in GoAway.
func TestGoAwayEcho(t *testing.T) {
	goaway := func(preface bool, code http2.ErrCode) []byte {
		w := newWire(preface)
		must(t, w.fr.WriteGoAway(1, code, nil))
		return w.buf.Bytes()
	}
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	for _, tc := range []struct {
		name string
		feed func(c *Conn)
		want string // GoAway code, "" for none
	}{
		{"server first", func(c *Conn) {
			c.t.p[dirRecv].feed(goaway(false, http2.ErrCodeEnhanceYourCalm), ms(5))
			c.t.p[dirSend].feed(goaway(true, http2.ErrCodeNo), ms(6))
		}, "ENHANCE_YOUR_CALM"},
		{"answer to ours", func(c *Conn) {
			c.t.p[dirSend].feed(goaway(true, http2.ErrCodeNo), ms(5))
			c.t.p[dirRecv].feed(goaway(false, http2.ErrCodeNo), ms(6))
		}, ""},
		{"answer recorded before ours (writer descheduled)", func(c *Conn) {
			c.t.p[dirRecv].feed(goaway(false, http2.ErrCodeNo), ms(6))
			c.t.p[dirSend].feed(goaway(true, http2.ErrCodeNo), ms(5))
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Wrap(nopConn{}, t0, Options{})
			tc.feed(c)
			in := c.Info()
			got := ""
			if in.GoAway != nil {
				got = in.GoAway.Code
			}
			if got != tc.want || in.Counts["recv"]["GOAWAY"] != 1 || in.Counts["send"]["GOAWAY"] != 1 {
				t.Errorf("GoAway %q, want %q; counts %v", got, tc.want, in.Counts)
			}
			if in.Frames[0].AtMS != 5 || in.Frames[1].AtMS != 6 {
				t.Errorf("frames not in time order: %+v", in.Frames)
			}
		})
	}
}

// TestUnknownSettingsBounded: a server naming thousands of settings
// pathlens does not know costs a few map entries, not one per name; the
// standard settings are always kept.
func TestUnknownSettingsBounded(t *testing.T) {
	c := Wrap(nopConn{}, t0, Options{})
	s := newWire(false)
	for f := range 100 {
		set := []http2.Setting{{ID: http2.SettingMaxConcurrentStreams, Val: uint32(f + 1)}}
		for i := range 600 {
			set = append(set, http2.Setting{ID: http2.SettingID(100 + f*600 + i), Val: 1})
		}
		must(t, s.fr.WriteSettings(set...))
	}
	c.t.p[dirRecv].feed(s.buf.Bytes(), t0)
	in := c.Info()
	srv := in.Settings["server"]
	if got := len(srv); got > maxSettingsPerSide {
		t.Errorf("the server side lists %d settings, want at most %d", got, maxSettingsPerSide)
	}
	if srv["MAX_CONCURRENT_STREAMS"] != 100 {
		t.Errorf("MAX_CONCURRENT_STREAMS = %d, want the last value 100", srv["MAX_CONCURRENT_STREAMS"])
	}
	for _, f := range in.Frames {
		if len(f.Settings) > 1+maxUnknownSettings {
			t.Fatalf("a SETTINGS frame keeps %d settings", len(f.Settings))
		}
	}
	if in.FramesTotal != 100 {
		t.Errorf("frames total %d", in.FramesTotal)
	}
}

// GoAway.Pending counts the streams pathlens opened that the server had
// not finished when its GOAWAY came, in the wire order of what it sent.
func TestGoAwayPending(t *testing.T) {
	for _, tc := range []struct {
		name    string
		server  func(w *wire)
		pending int
	}{
		{"after the response", func(w *wire) {
			must(t, w.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: w.block(":status", "200"), EndHeaders: true}))
			must(t, w.fr.WriteData(1, true, []byte("ok\n")))
			must(t, w.fr.WriteGoAway(3, http2.ErrCodeNo, nil))
			must(t, w.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: w.block(":status", "204"), EndHeaders: true, EndStream: true}))
		}, 1},
		{"between headers and body, the other stream answered", func(w *wire) {
			must(t, w.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: w.block(":status", "204"), EndHeaders: true, EndStream: true}))
			must(t, w.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: w.block(":status", "200"), EndHeaders: true}))
			must(t, w.fr.WriteGoAway(3, http2.ErrCodeNo, nil))
			must(t, w.fr.WriteData(1, true, []byte("ok\n")))
		}, 1},
		{"both answered, one by a reset", func(w *wire) {
			must(t, w.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: w.block(":status", "200"), EndHeaders: true, EndStream: true}))
			must(t, w.fr.WriteRSTStream(3, http2.ErrCodeRefusedStream))
			must(t, w.fr.WriteGoAway(1, http2.ErrCodeNo, nil))
		}, 0},
		{"before anything", func(w *wire) { must(t, w.fr.WriteGoAway(0, http2.ErrCodeNo, nil)) }, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newWire(true)
			for _, id := range []uint32{1, 3} {
				must(t, c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: c.block(":method", "GET", ":path", "/"), EndStream: true, EndHeaders: true}))
			}
			s := newWire(false)
			tc.server(s)
			tap := Wrap(nopConn{}, t0, Options{})
			tap.t.p[dirSend].feed(c.buf.Bytes(), t0.Add(time.Millisecond))
			tap.t.p[dirRecv].feed(s.buf.Bytes(), t0.Add(2*time.Millisecond))
			g := tap.Info().GoAway
			if g == nil || g.Pending != tc.pending || g.Streams != 2 {
				t.Errorf("GoAway %+v, want %d pending of 2 streams", g, tc.pending)
			}
		})
	}
}
