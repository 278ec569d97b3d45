package alert

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Webhook headers (docs/alerting.md): the signature is
// "sha256=" + hex(HMAC-SHA256(secret, TIMESTAMP + "." + BODY)), with
// TIMESTAMP the X-Pathlens-Timestamp header (Unix seconds) and BODY the
// request body as sent.
const (
	HeaderSignature = "X-Pathlens-Signature"
	HeaderTimestamp = "X-Pathlens-Timestamp"
	// HeaderDelivery is the document's ID, the same on every attempt
	// and every webhook: receivers can drop repeats.
	HeaderDelivery = "X-Pathlens-Delivery"
)

// EventVersion is Event.Version; it changes only on a breaking change.
const EventVersion = 1

// Event is the JSON document a webhook receives for one state change.
type Event struct {
	Version int    `json:"version"`
	ID      string `json:"id"` // as HeaderDelivery
	Target  string `json:"target"`
	Module  string `json:"module"`
	// Labels are the target's labels, sanitized as in alerts.
	Labels map[string]string `json:"labels,omitempty"`
	From   State             `json:"from"`
	To     State             `json:"to"`
	// At is when the change happened: the start of the run that made
	// it, or for a change held by a maintenance window, the window's end.
	At     time.Time `json:"at"`
	Reason string    `json:"reason"`
	// Held is true for a change that happened during a maintenance
	// window and is sent now that it ended (From is the state last
	// sent; changes that came and went inside the window are not sent).
	Held bool `json:"held,omitempty"`
	// Error is the latest run's error when it failed.
	Error *EventError `json:"error,omitempty"`
	// Findings are the latest run's findings.
	Findings []EventFinding `json:"findings"`
	// Link is the target's page in the UI ("" without an external URL).
	Link string `json:"link,omitempty"`
}

// EventError is a failed run's error in an Event.
type EventError struct {
	Class   string `json:"class"`
	Phase   string `json:"phase,omitempty"`
	Message string `json:"message"`
}

// EventFinding is one finding in an Event.
type EventFinding struct {
	ID       string `json:"id"`
	Severity string `json:"severity"`
	Summary  string `json:"summary"`
	Advice   string `json:"advice,omitempty"`
	// Alerting is true when the finding is alerting (seen on enough
	// runs in a row), not just in the latest run.
	Alerting bool `json:"alerting"`
}

// Delivery records one document's delivery to one webhook.
type Delivery struct {
	ID string // as HeaderDelivery
	// At is when the last attempt was made.
	At time.Time
	// URL is the webhook's, user info and query values redacted.
	URL string
	// Change is "FROM → TO".
	Change string
	// Status is the last attempt's HTTP status (0 when none came).
	Status   int
	Attempts int
	// Error is why the delivery failed ("" when it succeeded).
	Error string
}

// OK reports whether the delivery succeeded.
func (d Delivery) OK() bool { return d.Error == "" }

// Sign returns the X-Pathlens-Signature value of body sent with
// timestamp ts (the X-Pathlens-Timestamp value).
func Sign(secret, body []byte, ts string) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(ts))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// ErrBadSignature is returned by VerifySignature for a signature that
// does not match.
var ErrBadSignature = errors.New("signature does not match")

// VerifySignature checks a webhook request, for Go receivers: ts and sig
// are its X-Pathlens-Timestamp and X-Pathlens-Signature headers, body its
// body. A timestamp further than tolerance from now is refused, so a
// recorded request cannot be replayed later (5 min is a good tolerance).
func VerifySignature(secret, body []byte, ts, sig string, now time.Time, tolerance time.Duration) error {
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("bad %s %q", HeaderTimestamp, ts)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%s is %s away from now, more than %s", HeaderTimestamp, d.Round(time.Second), tolerance)
	}
	if !hmac.Equal([]byte(Sign(secret, body, ts)), []byte(sig)) {
		return ErrBadSignature
	}
	return nil
}

// hookItem is one document for one webhook.
type hookItem struct {
	target, id, change string
	body               []byte
}

// hookSender delivers to one webhook, one document at a time.
type hookSender struct {
	m      *Manager
	cfg    WebhookConfig
	url    string
	shown  string
	queue  chan hookItem
	cancel context.CancelFunc
}

// newHookSender prepares a sender for cfg (already validated).
func newHookSender(m *Manager, cfg WebhookConfig) *hookSender {
	return &hookSender{m: m, cfg: cfg, url: cfg.URL, shown: redactURL(cfg.URL), queue: make(chan hookItem, WebhookQueue)}
}

// enqueue adds a document without blocking; a full queue drops it.
func (s *hookSender) enqueue(it hookItem) {
	select {
	case s.queue <- it:
	default:
		s.m.stats.dropped.Add(1)
	}
}

// run delivers until ctx ends.
func (s *hookSender) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case it := <-s.queue:
			d := s.deliver(ctx, it)
			if ctx.Err() != nil && !d.OK() {
				return // shutting down: not a failure of the webhook
			}
			s.m.recordDelivery(it.target, d)
		}
	}
}

// deliver posts one document: up to hookAttempts attempts, waiting
// hookBackoff, then twice as long each time (at most 30 s), and never
// starting an attempt past hookMaxElapsed after the first.
func (s *hookSender) deliver(ctx context.Context, it hookItem) Delivery {
	d := Delivery{ID: it.id, URL: s.shown, Change: it.change}
	start := time.Now()
	wait := s.m.hookBackoff
	for {
		d.Attempts++
		d.At = s.m.now()
		status, retry, err := s.once(ctx, it)
		d.Status = status
		if err == nil {
			d.Error = ""
			s.m.stats.webhooksSent.Add(1)
			return d
		}
		d.Error = err.Error()
		if !retry || d.Attempts >= s.m.hookAttempts || time.Since(start)+wait > s.m.hookMaxElapsed {
			break
		}
		if !sleep(ctx, wait) {
			d.Error = "shut down before delivery: " + d.Error
			break
		}
		wait = min(2*wait, 30*time.Second)
	}
	s.m.stats.webhookErrors.Add(1)
	if ctx.Err() == nil {
		s.m.log.Warn("webhook delivery failed", "webhook", s.shown, "target", it.target, "attempts", d.Attempts, "error", d.Error)
	}
	return d
}

// once makes one signed request.
func (s *hookSender) once(ctx context.Context, it hookItem) (status int, retry bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, s.m.requestTimeout())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(it.body))
	if err != nil {
		return 0, false, fmt.Errorf("%s: %v", s.shown, transportError(err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set(HeaderDelivery, it.id)
	ts := strconv.FormatInt(s.m.now().Unix(), 10)
	req.Header.Set(HeaderTimestamp, ts)
	if s.cfg.SecretFile != "" {
		secret, err := readSecret(s.cfg.SecretFile)
		if err != nil {
			return 0, false, fmt.Errorf("secret_file: %w", err)
		}
		req.Header.Set(HeaderSignature, Sign(secret, it.body, ts))
	}
	resp, err := s.m.client.Do(req)
	if err != nil {
		return 0, true, fmt.Errorf("%s: %v", s.shown, transportError(err))
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 == 2 {
		return resp.StatusCode, false, nil
	}
	return resp.StatusCode, retryable(resp.StatusCode), fmt.Errorf("HTTP %d: %s", resp.StatusCode, oneLine(msg))
}

// newID returns a random delivery ID (32 hex digits).
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// targetLink is the UI page of target under base ("" without a base).
func targetLink(base, target string) string {
	if base == "" {
		return ""
	}
	return base + "/targets/" + url.PathEscape(target)
}
