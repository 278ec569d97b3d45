package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// ErrTruncated is matched (errors.Is) by the error a response body
// returns under WithStrictContentLength when it ends before its
// Content-Length.
var ErrTruncated = errors.New("response body shorter than Content-Length")

// TruncatedError is the error of a short body under
// WithStrictContentLength: Got of the Want bytes announced arrived.
type TruncatedError struct {
	URL       string
	Got, Want int64
	// Err is what the connection reported (io.ErrUnexpectedEOF when the
	// body just stopped).
	Err error
}

func (e *TruncatedError) Error() string {
	return fmt.Sprintf("%s: body ended after %d of %d bytes (Content-Length): %v", e.URL, e.Got, e.Want, e.Err)
}

// Is matches ErrTruncated.
func (e *TruncatedError) Is(target error) bool { return target == ErrTruncated }

// Unwrap returns the underlying read error.
func (e *TruncatedError) Unwrap() error { return e.Err }

// body watches a response body: it counts bytes, checks the length under
// strict mode, and finishes the exchange and releases the request's
// deadline when the body is read to the end, fails or is closed.
type body struct {
	rc     io.ReadCloser
	x      *exchange
	cancel context.CancelFunc
	req    *http.Request
	want   int64 // Content-Length when strict checking applies, else -1
	n      atomic.Int64
	done   atomic.Bool
	errMu  sync.Mutex
	err    error // the truncation error, returned again by Close
}

func (t *Transport) wrapBody(x *exchange, resp *http.Response, cancel context.CancelFunc) {
	want := int64(-1)
	if t.cfg.strict && resp.ContentLength > 0 && !resp.Uncompressed && resp.Request != nil && resp.Request.Method != http.MethodHead {
		want = resp.ContentLength
	}
	if resp.Body == nil || resp.Body == http.NoBody || resp.StatusCode == http.StatusSwitchingProtocols {
		// Nothing to read (or an upgraded connection the caller now owns).
		if x != nil {
			x.finish(nil, time.Time{})
		}
		if cancel != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			cancel()
		}
		return
	}
	if x == nil && want < 0 && cancel == nil {
		return
	}
	var b *body
	if x != nil {
		b = &x.att.body // one allocation with the attempt's other blocks
	} else {
		b = new(body)
	}
	b.rc, b.x, b.cancel, b.want, b.req = resp.Body, x, cancel, want, resp.Request
	resp.Body = b
}

func (b *body) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	total := b.n.Add(int64(n))
	if err == nil {
		return n, nil
	}
	if err == io.EOF {
		if b.want >= 0 && total < b.want {
			err = b.truncated(total, io.ErrUnexpectedEOF)
			b.end(err)
			return n, err
		}
		b.end(nil)
		return n, err
	}
	if b.want >= 0 && errors.Is(err, io.ErrUnexpectedEOF) {
		err = b.truncated(total, err)
	}
	b.end(err)
	return n, err
}

func (b *body) truncated(got int64, cause error) error {
	u := ""
	if b.req != nil && b.req.URL != nil {
		u = b.req.URL.Redacted()
	}
	e := &TruncatedError{URL: u, Got: got, Want: b.want, Err: cause}
	b.errMu.Lock()
	b.err = e
	b.errMu.Unlock()
	return e
}

// Close closes the body. Under strict mode it returns the truncation
// error if the body ended short.
func (b *body) Close() error {
	err := b.rc.Close()
	b.end(nil)
	b.errMu.Lock()
	terr := b.err
	b.errMu.Unlock()
	if terr != nil {
		return terr
	}
	return err
}

// end finishes the exchange once: err nil means the body ended (or was
// closed early) without a transfer error.
func (b *body) end(err error) {
	if !b.done.CompareAndSwap(false, true) {
		return
	}
	if x := b.x; x != nil {
		if err != nil {
			var te *TruncatedError
			if errors.As(err, &te) || errors.Is(err, io.ErrUnexpectedEOF) {
				x.markTruncated()
			}
		}
		x.finishBody(err, b.n.Load())
	}
	if b.cancel != nil {
		b.cancel()
	}
}

func (x *exchange) markTruncated() {
	if !x.lock() {
		return
	}
	defer x.mu.Unlock()
	if x.res.HTTP != nil {
		x.res.HTTP.Truncated = true
	}
}

// finishBody finishes the exchange of a body that ended after n bytes.
func (x *exchange) finishBody(err error, n int64) { x.finishAt(err, x.now(), n) }

func (x *exchange) setBodyBytes(n int64) {
	if !x.lock() {
		return
	}
	defer x.mu.Unlock()
	if x.res.HTTP != nil {
		x.res.HTTP.BodyBytes = n
	}
}
