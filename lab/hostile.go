package lab

import (
	"bufio"
	"bytes"
	"compress/flate"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Sizes and pacing of the hostile servers.
const (
	headerLineSize   = 1 << 10  // endless-headers: one "X-A: aaa…\r\n" line
	endlessChunk     = 32 << 10 // endless-body: bytes per write
	trickleInterval  = 50 * time.Millisecond
	trickleBodySize  = 10 << 10 // trickle: body the response promises
	giantStatusSize  = 10 << 20 // giant-status: reason-phrase bytes, no newline
	noiseSize        = 4 << 10  // tls-noise: random bytes sent for a ClientHello
	bombChunk        = 1 << 20  // gzip bomb: zeros per repeated deflate block
	bombChunks       = 1 << 10  // gzip bomb: 1 GiB of zeros in all
	tlsRecordHdrSize = 5
)

// readRequestHead reads one HTTP request head from c (bounded in size and
// time) so a response is not written over an unread request.
func readRequestHead(c *rawConn) bool {
	dl := time.Now().Add(requestReadTime)
	if dl.After(c.end) {
		dl = c.end
	}
	_ = c.SetReadDeadline(dl)
	_, err := http.ReadRequest(bufio.NewReader(io.LimitReader(c.Conn, requestReadLimit)))
	_ = c.SetReadDeadline(c.end)
	return err == nil
}

// endlessHeaders sends a status line and then 1 KiB header lines forever.
func endlessHeaders(c *rawConn) {
	if !readRequestHead(c) || c.write([]byte("HTTP/1.1 200 OK\r\n")) != nil {
		return
	}
	line := "X-A: " + strings.Repeat("a", headerLineSize-len("X-A: \r\n")) + "\r\n"
	block := []byte(strings.Repeat(line, 16))
	for c.write(block) == nil {
	}
}

// endlessBody sends a close-delimited 200 whose body never ends.
func endlessBody(c *rawConn) {
	if !readRequestHead(c) {
		return
	}
	head := "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n"
	if c.write([]byte(head)) != nil {
		return
	}
	chunk := bytes.Repeat([]byte("B"), endlessChunk)
	for c.write(chunk) == nil {
	}
}

// trickle sends a valid response (with a 10 KiB body) one byte per
// trickleInterval.
func (l *Lab) trickle(c *rawConn) {
	if !readRequestHead(c) {
		return
	}
	resp := "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
		strconv.Itoa(trickleBodySize) + "\r\nConnection: close\r\n\r\n" +
		strings.Repeat("t", trickleBodySize)
	t := time.NewTicker(trickleInterval)
	defer t.Stop()
	for i := 0; i < len(resp); i++ {
		if c.write([]byte{resp[i]}) != nil {
			return
		}
		select {
		case <-t.C:
		case <-l.done:
			return
		}
	}
	lingerClose(c.Conn, time.Second)
}

// giantStatus sends "HTTP/1.1 200 " and then 10 MiB of 'A' without a newline.
func giantStatus(c *rawConn) {
	if !readRequestHead(c) || c.write([]byte("HTTP/1.1 200 ")) != nil {
		return
	}
	block := bytes.Repeat([]byte("A"), 64<<10)
	for sent := 0; sent < giantStatusSize; sent += len(block) {
		if c.write(block) != nil {
			return
		}
	}
	lingerClose(c.Conn, time.Second)
}

// tlsNoise reads one TLS record (the ClientHello) and answers it with
// noiseSize random bytes, then closes.
func tlsNoise(c *rawConn) {
	_ = c.SetReadDeadline(time.Now().Add(requestReadTime))
	var hdr [tlsRecordHdrSize]byte
	if _, err := io.ReadFull(c.Conn, hdr[:]); err != nil {
		return
	}
	n := int64(binary.BigEndian.Uint16(hdr[3:5]))
	if _, err := io.CopyN(io.Discard, c.Conn, n); err != nil {
		return
	}
	noise := make([]byte, noiseSize)
	_, _ = rand.Read(noise)
	if c.write(noise) != nil {
		return
	}
	lingerClose(c.Conn, time.Second)
}

// gzipBomb is a gzip stream of chunks×chunkSize zero bytes, assembled from
// one compressed first chunk and one compressed steady-state chunk that is
// repeated, so serving it costs ~1 MB of writes and no compression.
type gzipBomb struct {
	chunkSize, chunks int

	once          sync.Once
	err           error
	first, repeat []byte // deflate output (sync-flushed) for chunk 1 and chunks 2..n
	tail          []byte // final empty deflate block + gzip trailer
}

var gzipHeader = []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 255} // deflate, no mtime, max compression, unknown OS

// build compresses three chunks with a sync flush after each; once the
// 32 KiB window is all zeros, every further chunk compresses to the same
// bytes, which build checks rather than assumes. It runs once, when the
// scenario starts, and gives up when done closes.
func (b *gzipBomb) build(done <-chan struct{}) error {
	b.once.Do(func() {
		var buf bytes.Buffer
		fw, err := flate.NewWriter(&buf, flate.BestCompression)
		if err != nil {
			b.err = err
			return
		}
		zero := make([]byte, 64<<10)
		var outs [3][]byte
		for i := range outs {
			// Compress in slices so a lab Close does not wait for it.
			for left := b.chunkSize; left > 0; left -= len(zero) {
				select {
				case <-done:
					b.err = errClosing
					return
				default:
				}
				_, _ = fw.Write(zero[:min(left, len(zero))])
			}
			if err := fw.Flush(); err != nil {
				b.err = err
				return
			}
			outs[i] = bytes.Clone(buf.Bytes())
			buf.Reset()
		}
		if err := fw.Close(); err != nil {
			b.err = err
			return
		}
		if !bytes.Equal(outs[1], outs[2]) {
			b.err = errors.New("lab: gzip bomb: compressed zero chunks are not stable")
			return
		}
		size := uint64(b.chunkSize) * uint64(b.chunks)
		crc := crc32Zeros(size)
		tail := bytes.Clone(buf.Bytes()) // final block from Close
		tail = binary.LittleEndian.AppendUint32(tail, crc)
		tail = binary.LittleEndian.AppendUint32(tail, uint32(size)) // ISIZE is the size mod 2^32
		b.first, b.repeat, b.tail = outs[0], outs[1], tail
	})
	return b.err
}

// wireSize is the compressed length of the stream (after build).
func (b *gzipBomb) wireSize() int64 {
	return int64(len(gzipHeader)+len(b.first)+len(b.tail)) + int64(b.chunks-1)*int64(len(b.repeat))
}

// writeTo streams the bomb to w, stopping early when done closes.
func (b *gzipBomb) writeTo(w io.Writer, done <-chan struct{}) error {
	if err := b.build(done); err != nil {
		return err
	}
	if _, err := w.Write(append(bytes.Clone(gzipHeader), b.first...)); err != nil {
		return err
	}
	// Batch repeats into ~64 KiB writes.
	per := max(1, (64<<10)/len(b.repeat))
	batch := bytes.Repeat(b.repeat, per)
	for left := b.chunks - 1; left > 0; {
		select {
		case <-done:
			return errClosing
		default:
		}
		n := min(per, left)
		if _, err := w.Write(batch[:n*len(b.repeat)]); err != nil {
			return err
		}
		left -= n
	}
	_, err := w.Write(b.tail)
	return err
}

// handler serves the bomb as a 200 with Content-Encoding: gzip.
func (b *gzipBomb) handler(done <-chan struct{}) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := b.build(done); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "application/octet-stream")
		h.Set("Content-Encoding", "gzip")
		h.Set("Content-Length", strconv.FormatInt(b.wireSize(), 10))
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodHead {
			return
		}
		if err := b.writeTo(w, done); err != nil {
			panic(http.ErrAbortHandler)
		}
	}
}

// crc32Zeros returns the IEEE CRC-32 of n zero bytes in O(log n) time.
// Feeding a zero byte to the CRC register is a linear map over GF(2); its
// matrix is read off crc32.Update and raised to the n-th power by squaring.
func crc32Zeros(n uint64) uint32 {
	// crc32.Update(c, zero) = ^M(^c), so column i of M is ^Update(^(1<<i)).
	var op [32]uint32
	zero := []byte{0}
	for i := range op {
		op[i] = ^crc32.Update(^(uint32(1) << i), crc32.IEEETable, zero)
	}
	reg := ^uint32(0) // the register starts as all ones
	for ; n > 0; n >>= 1 {
		if n&1 != 0 {
			reg = gf2Apply(&op, reg)
		}
		var sq [32]uint32
		for i := range sq {
			sq[i] = gf2Apply(&op, op[i])
		}
		op = sq
	}
	return ^reg
}

// gf2Apply multiplies the 32×32 GF(2) matrix mat (by columns) with vec.
func gf2Apply(mat *[32]uint32, vec uint32) uint32 {
	var sum uint32
	for i := 0; vec != 0; i, vec = i+1, vec>>1 {
		if vec&1 != 0 {
			sum ^= mat[i]
		}
	}
	return sum
}
