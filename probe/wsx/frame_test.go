package wsx

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/coder/websocket"

	"github.com/pathlens/pathlens/diagnose"
	"github.com/pathlens/pathlens/internal/probetest"
	"github.com/pathlens/pathlens/probe"
)

// rawWSServer accepts WebSocket upgrades on 127.0.0.1 with a real
// handshake (a correct Sec-WebSocket-Accept) and then hands the
// connection to session, which writes whatever frames it likes. Sessions
// that keep the connection open end when the probe closes it, or at the
// test's cleanup.
func rawWSServer(t *testing.T, session func(c net.Conn)) probe.Target {
	t.Helper()
	addr := probetest.ServeTCP(t, "127.0.0.1:0", func(c net.Conn) {
		req, err := http.ReadRequest(bufio.NewReader(c))
		if err != nil {
			return
		}
		sum := sha1.Sum([]byte(req.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
		_, err = fmt.Fprintf(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
			"Sec-WebSocket-Accept: %s\r\n\r\n", base64.StdEncoding.EncodeToString(sum[:]))
		if err == nil {
			session(c)
		}
	})
	tg, err := probe.ParseTarget("ws://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

// Frame opcodes and header bits, as a server writes them (unmasked).
const (
	opCont  = 0x0
	opText  = 0x1
	opBin   = 0x2
	opPing  = 0x9
	finBit  = 0x80
	maskBit = 0x80
)

// frameHeader is the header of an unmasked frame announcing n payload
// bytes, in the shortest length encoding (lenBits forces 16 or 64).
func frameHeader(first byte, n uint64, lenBits int) []byte {
	switch {
	case lenBits == 0 && n < 126:
		return []byte{first, byte(n)}
	case lenBits == 16 || lenBits == 0 && n <= 0xFFFF:
		return binary.BigEndian.AppendUint16([]byte{first, 126}, uint16(n))
	}
	return binary.BigEndian.AppendUint64([]byte{first, 127}, n)
}

// frame is a complete unmasked frame.
func frame(first byte, payload []byte) []byte {
	return append(frameHeader(first, uint64(len(payload)), 0), payload...)
}

// keepOpen reads the client's frames until it closes the connection and
// returns the code of its close frame (-1 without one).
func keepOpen(c net.Conn) int {
	br := bufio.NewReader(c)
	for {
		var h [2]byte
		if _, err := io.ReadFull(br, h[:]); err != nil {
			return -1
		}
		n := uint64(h[1] & 0x7f)
		switch n {
		case 126, 127:
			ext := make([]byte, 2+6*(n-126))
			if _, err := io.ReadFull(br, ext); err != nil {
				return -1
			}
			n = 0
			for _, b := range ext {
				n = n<<8 | uint64(b)
			}
		}
		var key [4]byte
		if _, err := io.ReadFull(br, key[:]); err != nil { // client frames are masked
			return -1
		}
		if n > 1<<20 {
			return -1
		}
		p := make([]byte, n)
		if _, err := io.ReadFull(br, p); err != nil {
			return -1
		}
		if h[0]&0x0f == 0x8 {
			if len(p) < 2 {
				return 1005
			}
			return int(binary.BigEndian.Uint16([]byte{p[0] ^ key[0], p[1] ^ key[1]}))
		}
	}
}

// A frame header announcing more than the read limit ends the session at
// the header, whatever the server actually sends after it: 1009 from
// pathlens and WS_MESSAGE_TOO_LARGE, within the budget, without waiting
// for (or reading) the announced bytes. The library alone only fails once
// limit+1 bytes have arrived, so a server announcing 2^63−1 bytes and
// sending 1024 was reported as a healthy session with one 1 KiB message.
func TestAnnouncedLengthOverLimit(t *testing.T) {
	const limit = 4096
	kib := make([]byte, 1024)
	cases := []struct {
		name  string
		limit int64 // 0: the default (1 MiB)
		write []byte
		close bool // close the connection after writing
	}{
		{"2^63-1 kept open", 0, append(frameHeader(finBit|opText, 1<<63-1, 0), kib...), false},
		{"2^63-1 then closed", 0, append(frameHeader(finBit|opText, 1<<63-1, 0), kib...), true},
		{"limit+1 kept open", limit, append(frameHeader(finBit|opBin, limit+1, 0), make([]byte, limit)...), false},
		{"limit+1 then closed", limit, append(frameHeader(finBit|opBin, limit+1, 0), make([]byte, limit)...), true},
		{"limit+1 in a 64-bit length", limit, append(frameHeader(finBit|opBin, limit+1, 64), kib...), false},
		{"limit+1 sent in full", limit, frame(finBit|opBin, make([]byte, limit+1)), false},
		{"fragments over the limit", limit, slices.Concat(
			frame(opText, make([]byte, limit/2)),
			frame(finBit|opPing, []byte("p")),
			frameHeader(opCont, limit/2+1, 0), kib), false},
		{"after a message under the limit", limit, slices.Concat(
			frame(finBit|opText, []byte("hello")),
			frameHeader(finBit|opBin, 1<<40, 0), kib), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sent := make(chan int, 1) // the close code the server got
			tg := rawWSServer(t, func(conn net.Conn) {
				if _, err := conn.Write(c.write); err != nil || c.close {
					return
				}
				sent <- keepOpen(conn)
			})
			const hold = 2 * time.Second
			start := time.Now()
			r := probe.Run(context.Background(), tg, &probe.Options{Timeout: 3 * time.Second,
				WS: &probe.WSOptions{Hold: hold, MaxMessage: c.limit}})
			took := time.Since(start)
			w := r.WS
			if !w.ReadLimited || w.Close == nil || w.Close.Code != 1009 || w.Close.By != probe.WSClosedByClient || w.CloseCode != 1009 {
				t.Fatalf("not read-limited: err %+v close %+v\n%s", r.Error, w.Close, dump(t, r))
			}
			r.Findings = diagnose.Diagnose(r)
			if ids := probetest.FindingIDs(r); !slices.Contains(ids, diagnose.IDWSMessageTooLarge) || slices.Contains(ids, diagnose.IDWSAbnormalClose) {
				t.Errorf("findings %v", ids)
			}
			if !r.Success {
				t.Errorf("error %+v", r.Error)
			}
			if w.BytesIn > w.MaxMessage {
				t.Errorf("read %d bytes of messages with a %d-byte limit", w.BytesIn, w.MaxMessage)
			}
			if took > hold/2 || w.SessionMS > 500 {
				t.Errorf("the probe took %v (session %.0f ms): it waited for the announced bytes", took, w.SessionMS)
			}
			if !c.close {
				if code := <-sent; code != 1009 {
					t.Errorf("the server got close code %d, want 1009", code)
				}
			}
		})
	}
}

// Messages of exactly the limit are read in full, in one frame or many.
func TestAnnouncedLengthAtLimit(t *testing.T) {
	const limit = 4096
	for name, write := range map[string][]byte{
		"one frame":     frame(finBit|opBin, make([]byte, limit)),
		"fragments":     slices.Concat(frame(opBin, make([]byte, limit-1)), frame(finBit|opPing, nil), frame(finBit|opCont, []byte{0})),
		"64-bit length": append(frameHeader(finBit|opText, limit, 64), make([]byte, limit)...),
	} {
		t.Run(name, func(t *testing.T) {
			tg := rawWSServer(t, func(conn net.Conn) {
				if _, err := conn.Write(write); err == nil {
					keepOpen(conn)
				}
			})
			r := probe.Run(context.Background(), tg, &probe.Options{Timeout: 2 * time.Second,
				WS: &probe.WSOptions{Hold: 200 * time.Millisecond, MaxMessage: limit}})
			w := r.WS
			if !r.Success || w.ReadLimited || w.MessagesIn != 1 || w.BytesIn != limit || w.Close == nil || w.Close.Code != 1000 {
				t.Fatalf("err %+v close %+v\n%s", r.Error, w.Close, dump(t, r))
			}
			r.Findings = diagnose.Diagnose(r)
			if ids := probetest.FindingIDs(r); len(ids) != 0 {
				t.Errorf("findings %v", ids)
			}
		})
	}
}

// A 64-bit length with its most significant bit set (2^64−1, 2^63) is not
// a size but a protocol error (RFC 6455 requires the bit to be 0): pathlens
// fails the connection with 1002 at once and says why.
func TestAnnouncedLengthInvalid(t *testing.T) {
	for _, n := range []uint64{1<<64 - 1, 1 << 63} {
		t.Run(fmt.Sprintf("%#x", n), func(t *testing.T) {
			sent := make(chan int, 1)
			tg := rawWSServer(t, func(conn net.Conn) {
				if _, err := conn.Write(append(frameHeader(finBit|opText, n, 0), make([]byte, 1024)...)); err == nil {
					sent <- keepOpen(conn)
				}
			})
			start := time.Now()
			r := probe.Run(context.Background(), tg, &probe.Options{Timeout: 3 * time.Second, WS: &probe.WSOptions{Hold: 2 * time.Second}})
			if took := time.Since(start); took > time.Second {
				t.Errorf("took %v", took)
			}
			w := r.WS
			e := r.Error
			if r.Success || e.Class != probe.ClassProtocol || e.Cause != "invalid_frame" || e.Phase != probe.PhaseHold ||
				!strings.Contains(e.Message, "most significant bit") || !strings.Contains(e.Message, fmt.Sprintf("%#x", n)) {
				t.Fatalf("error %+v\n%s", e, dump(t, r))
			}
			if c := w.Close; c == nil || c.By != probe.WSClosedByClient || c.Code != 1002 || w.CloseCode != 1002 || c.Error == "" || w.ReadLimited {
				t.Errorf("close %+v", c)
			}
			if w.MessagesIn != 0 || w.BytesIn != 0 {
				t.Errorf("%d messages, %d bytes in", w.MessagesIn, w.BytesIn)
			}
			r.Findings = diagnose.Diagnose(r)
			if ids := probetest.FindingIDs(r); slices.Contains(ids, diagnose.IDWSAbnormalClose) || len(ids) == 0 {
				t.Errorf("findings %v", ids)
			}
			if code := <-sent; code != 1002 {
				t.Errorf("the server got close code %d, want 1002", code)
			}
		})
	}
}

// rwcReader is a read-only io.ReadWriteCloser over r.
type rwcReader struct{ io.Reader }

func (rwcReader) Write(p []byte) (int, error) { return len(p), nil }
func (rwcReader) Close() error                { return nil }

// readAll reads r to its end (or error) with one large buffer, so a
// reader that can return everything at once does.
func readAll(r io.Reader) ([]byte, error) {
	var out []byte
	buf := make([]byte, 64<<10)
	for {
		n, err := r.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			return out, err
		}
	}
}

// The guard follows frames across reads of any size: every accepted byte
// passes unchanged, and the stream stops at the refused header — after it
// when the message is too big (the library starts the message, its payload
// read fails), before its last byte when the length is invalid (the
// library never completes the header).
func TestFrameGuardSplitReads(t *testing.T) {
	const limit = 1000
	head := slices.Concat(
		frame(finBit|opText, []byte("hello")),
		[]byte{finBit | opPing, maskBit | 2, 1, 2, 3, 4, 'p' ^ 1, 'q' ^ 2}, // a masked control frame
		frame(finBit|opBin, make([]byte, 300)),                             // 16-bit length
		frame(opText, make([]byte, limit-10)),                              // a fragment...
		frameHeader(finBit|opCont, 10, 64), make([]byte, 10),               // ...its last one, at the limit
	)
	masked := frameHeader(finBit|opText, 1<<64-1, 0)
	masked[1] |= maskBit
	cases := []struct {
		name    string
		tail    []byte // after head; the refused header ends it
		wantErr error
	}{
		{"over the limit", frameHeader(finBit|opBin, limit+1, 0), websocket.ErrMessageTooBig},
		{"fragment over the limit", slices.Concat(frame(opBin, make([]byte, limit)), frameHeader(finBit|opCont, 1, 0)), websocket.ErrMessageTooBig},
		{"2^63-1", frameHeader(finBit|opText, 1<<63-1, 0), websocket.ErrMessageTooBig},
		{"2^64-1", frameHeader(finBit|opText, 1<<64-1, 0), errInvalidLength},
		{"2^64-1 masked", append(masked, 1, 2, 3, 4), errInvalidLength},
	}
	for _, c := range cases {
		stream := slices.Concat(head, c.tail, make([]byte, 64))
		start, end := len(head), len(head)+len(c.tail) // the invalid header's bounds
		for _, oneByte := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s one byte %v", c.name, oneByte), func(t *testing.T) {
				var r io.Reader = bytes.NewReader(stream)
				if oneByte {
					r = iotest.OneByteReader(r)
				}
				g := newFrameGuard(rwcReader{r}, limit)
				got, err := readAll(g)
				if !errors.Is(err, c.wantErr) || !errors.Is(g.stopped(), c.wantErr) {
					t.Fatalf("err %v, stopped %v, want %v", err, g.stopped(), c.wantErr)
				}
				if !bytes.Equal(got, stream[:len(got)]) {
					t.Fatal("passed bytes differ from the stream")
				}
				switch {
				case c.wantErr == websocket.ErrMessageTooBig && len(got) != end:
					t.Errorf("passed %d bytes, want %d (through the refused header)", len(got), end)
				case c.wantErr == errInvalidLength && !oneByte && len(got) != start:
					t.Errorf("passed %d bytes, want %d (up to the refused header)", len(got), start)
				case c.wantErr == errInvalidLength && (len(got) < start || len(got) >= end):
					t.Errorf("passed %d bytes, want the header [%d, %d) incomplete", len(got), start, end)
				}
				if n, err := g.Read(make([]byte, 10)); n != 0 || !errors.Is(err, c.wantErr) {
					t.Errorf("read after the stop: %d, %v", n, err)
				}
			})
		}
	}
	// Under the limit everything passes.
	g := newFrameGuard(rwcReader{iotest.OneByteReader(bytes.NewReader(head))}, limit)
	if got, err := readAll(g); err != io.EOF || !bytes.Equal(got, head) {
		t.Errorf("clean stream: %d of %d bytes, %v", len(got), len(head), err)
	}
}
