package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pathlens/pathlens/probe"
)

// retryNote is what the next attempt's Result says about why it happened.
type retryNote struct {
	prev       int    // the attempt that failed
	max        int    // MaxAttempts
	reason     string // "status 503" or the error
	delay      time.Duration
	retryAfter time.Duration // what the server asked for (0: nothing)
	capped     bool
}

func (n *retryNote) findings(attempt int) []probe.Finding {
	ev := map[string]any{
		"attempt":      attempt,
		"max_attempts": n.max,
		"reason":       n.reason,
		"delay_ms":     probe.MS(n.delay),
	}
	if n.retryAfter > 0 {
		ev["retry_after_ms"] = probe.MS(n.retryAfter)
	}
	out := []probe.Finding{{
		ID: IDRetry, Severity: probe.SeverityInfo,
		Summary:  fmt.Sprintf("attempt %d of %d, %s after attempt %d failed (%s)", attempt, n.max, fmtDur(n.delay), n.prev, n.reason),
		Evidence: ev,
		Advice:   "Retries hide transient failures; if they are frequent, the findings of the failed attempts say where the time went.",
	}}
	if n.capped {
		out = append(out, probe.Finding{
			ID: IDRetryAfterCapped, Severity: probe.SeverityWarning,
			Summary: fmt.Sprintf("the server asked to wait %s (Retry-After) but the client waited only %s (MaxRetryAfter)",
				fmtDur(n.retryAfter), fmtDur(n.delay)),
			Evidence: map[string]any{"retry_after_ms": probe.MS(n.retryAfter), "waited_ms": probe.MS(n.delay)},
			Advice: "The server is shedding load for longer than this client is willing to wait; retrying early adds to the " +
				"overload. Raise Retry.MaxRetryAfter if callers can wait that long, or fail fast and let the caller back off.",
		})
	}
	return out
}

// roundTripRetry runs the attempts of one request.
func (t *Transport) roundTripRetry(ctx context.Context, req *http.Request, cancel context.CancelFunc, budget time.Duration) (*http.Response, error) {
	rt := t.retry
	idempotent := isIdempotent(req)
	replayable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	var note *retryNote
	for n := 1; ; n++ {
		x, resp, err := t.attempt(ctx, req, n, note, budget, time.Time{})
		reason, retryable := shouldRetry(ctx, rt, resp, err)
		if !retryable {
			return t.settle(x, resp, err, cancel)
		}
		stop := ""
		switch {
		case n >= rt.MaxAttempts:
			stop = "max_attempts"
		case !idempotent && !rt.AllowNonIdempotent:
			stop = "not_idempotent"
		case !replayable:
			stop = "body_not_replayable"
		}
		var delay, asked time.Duration
		capped := false
		if stop == "" {
			delay = backoff(rt, n)
			if resp != nil {
				if ra, ok := parseRetryAfter(resp.Header.Get("Retry-After"), rt.Now()); ok {
					asked, delay = ra, ra
					if ra > rt.MaxRetryAfter {
						delay, capped = rt.MaxRetryAfter, true
					}
				}
			}
			// Never sleep past the deadline: a retry that cannot start in
			// time is not made, and the caller gets the last answer now.
			if dl, ok := ctx.Deadline(); ok && !rt.Now().Add(delay).Before(dl) {
				stop = "deadline"
			}
		}
		if stop != "" {
			if x != nil {
				x.addFinding(stoppedFinding(ctx, stop, n, rt.MaxAttempts, reason, req.Method, delay, asked))
			}
			if t.met != nil {
				t.met.retryStopped(stop)
			}
			return t.settle(x, resp, err, cancel)
		}

		// This attempt is over: release it and wait.
		if resp != nil {
			n := drainClose(resp.Body)
			if x != nil {
				x.setBodyBytes(n)
			}
		}
		if x != nil {
			x.finish(err, time.Time{})
		}
		if t.met != nil {
			t.met.retried(err == nil, capped)
		}
		note = &retryNote{prev: n, max: rt.MaxAttempts, reason: reason, delay: delay, retryAfter: asked, capped: capped}
		if serr := rt.Sleep(ctx, delay); serr != nil {
			if cancel != nil {
				cancel()
			}
			return nil, fmt.Errorf("client: waiting to retry %s %s: %w", req.Method, req.URL.Redacted(), serr)
		}
	}
}

func stoppedFinding(ctx context.Context, why string, n, max int, reason, method string, delay, asked time.Duration) probe.Finding {
	ev := map[string]any{"why": why, "attempt": n, "max_attempts": max, "reason": reason}
	var summary, advice string
	switch why {
	case "deadline":
		dl, _ := ctx.Deadline()
		ev["delay_ms"] = probe.MS(delay)
		ev["deadline_in_ms"] = probe.MS(time.Until(dl))
		if asked > 0 {
			ev["retry_after_ms"] = probe.MS(asked)
		}
		summary = fmt.Sprintf("not retried: the next attempt (in %s) would start after the request's deadline", fmtDur(delay))
		advice = "The context deadline leaves no room for a retry. Give the request a longer deadline or accept the failure."
	case "max_attempts":
		summary = fmt.Sprintf("gave up after %d attempts (%s)", n, reason)
		advice = "Every attempt failed; the findings of each attempt say where. Raise Retry.MaxAttempts only if the failures are transient."
	case "not_idempotent":
		summary = fmt.Sprintf("not retried: %s is not idempotent (%s)", method, reason)
		advice = "Repeating a non-idempotent request may apply it twice. Send an Idempotency-Key header that the server honours, " +
			"or set Retry.AllowNonIdempotent if the server tolerates duplicates."
	case "body_not_replayable":
		summary = fmt.Sprintf("not retried: the request body cannot be sent again (no GetBody) (%s)", reason)
		advice = "Build the request with http.NewRequest from a bytes.Reader, bytes.Buffer or strings.Reader, or set req.GetBody."
	}
	return probe.Finding{ID: IDRetryStopped, Severity: probe.SeverityInfo, Summary: summary, Evidence: ev, Advice: advice}
}

// shouldRetry says whether an attempt's outcome is worth another
// attempt, and why.
func shouldRetry(ctx context.Context, rt *Retry, resp *http.Response, err error) (string, bool) {
	if ctx.Err() != nil {
		return "", false
	}
	if err != nil {
		return err.Error(), retryableError(err)
	}
	if slices.Contains(rt.Statuses, resp.StatusCode) {
		return "status " + strconv.Itoa(resp.StatusCode), true
	}
	return "", false
}

// retryableError: transport failures are, except those another attempt
// cannot fix (certificates, names that do not exist, not TLS, bad URLs).
func retryableError(err error) bool {
	var ve *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var ie x509.CertificateInvalidError
	var rh tls.RecordHeaderError
	var de *net.DNSError
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return false
	case errors.As(err, &ve), errors.As(err, &ua), errors.As(err, &he), errors.As(err, &ie), errors.As(err, &rh):
		return false
	case errors.As(err, &de) && de.IsNotFound:
		return false
	case errors.Is(err, http.ErrSchemeMismatch), strings.Contains(err.Error(), "unsupported protocol scheme"):
		return false
	}
	return true
}

// isIdempotent follows RFC 9110 §9.2.2 and net/http: an Idempotency-Key
// header makes any method safe to repeat.
func isIdempotent(req *http.Request) bool {
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	if _, ok := req.Header["Idempotency-Key"]; ok {
		return true
	}
	_, ok := req.Header["X-Idempotency-Key"]
	return ok
}

// backoff is full jitter: uniform in [0, min(MaxDelay, BaseDelay·2^(n-1))).
func backoff(rt *Retry, n int) time.Duration {
	ceil := rt.MaxDelay
	if n-1 < 32 {
		if d := rt.BaseDelay << (n - 1); d > 0 && d < ceil {
			ceil = d
		}
	}
	return time.Duration(rt.Rand() * float64(ceil))
}

// parseRetryAfter reads both forms of Retry-After (RFC 9110 §10.2.3):
// delay-seconds or an HTTP-date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		if secs > int64(365*24*time.Hour/time.Second) {
			secs = int64(365 * 24 * time.Hour / time.Second)
		}
		return time.Duration(secs) * time.Second, true
	}
	when, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	d := when.Sub(now)
	if d < 0 {
		d = 0
	}
	return d, true
}

// drainClose reads a little of a body so the connection can be reused,
// closes it and returns how much it read.
func drainClose(rc io.ReadCloser) int64 {
	n, _ := io.CopyN(io.Discard, rc, 64<<10)
	_ = rc.Close()
	return n
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func randFloat() float64 { return rand.Float64() }

func fmtDur(d time.Duration) string {
	return strconv.FormatFloat(probe.MS(d), 'f', -1, 64) + " ms"
}
