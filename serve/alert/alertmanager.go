package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Alert names (the alertname label).
const (
	AlertTargetDown = "PathlensTargetDown"
	AlertFinding    = "PathlensFinding"
)

// Alert is one alert as pathlens posts it to Alertmanager. An Alert
// handed out by the Manager is never modified afterwards.
type Alert struct {
	Labels       map[string]string
	Annotations  map[string]string
	StartsAt     time.Time
	GeneratorURL string
}

// Name is the alert's alertname.
func (a *Alert) Name() string { return a.Labels[LabelAlertname] }

// sameLabels reports whether a and b have the same labels: the same
// alert to Alertmanager.
func (a *Alert) sameLabels(b *Alert) bool {
	if len(a.Labels) != len(b.Labels) {
		return false
	}
	for k, v := range a.Labels {
		if w, ok := b.Labels[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// postableAlert is the API v2 postableAlert.
type postableAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     string            `json:"startsAt"`
	EndsAt       string            `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// amItem is one alert to post: firing (endsAt computed at post time) or
// resolved at resolvedAt.
type amItem struct {
	alert      *Alert
	resolvedAt time.Time // zero: firing
}

// amSender posts to one Alertmanager: the changes its queue holds and
// the resend snapshots, one request at a time.
type amSender struct {
	m        *Manager
	cfg      AlertmanagerConfig
	endpoint string // URL + /api/v2/alerts
	shown    string // endpoint for logs and errors: user info redacted
	queue    chan amItem
	// resend asks for every firing alert to be posted again. The
	// sender takes the snapshot when it gets to it, not when asked: a
	// snapshot taken earlier could re-fire an alert resolved since.
	resend chan struct{}
	cancel context.CancelFunc
}

// newAMSender prepares a sender for cfg (already validated).
func newAMSender(m *Manager, cfg AlertmanagerConfig) *amSender {
	u, _ := url.Parse(cfg.URL)
	u.Path = strings.TrimRight(u.Path, "/") + "/api/v2/alerts"
	u.RawPath = ""
	return &amSender{m: m, cfg: cfg, endpoint: u.String(), shown: redactedString(u),
		queue: make(chan amItem, AlertmanagerQueue), resend: make(chan struct{}, 1)}
}

// enqueue adds a change without blocking; a full queue drops it.
func (s *amSender) enqueue(it amItem) {
	select {
	case s.queue <- it:
	default:
		s.m.stats.dropped.Add(1)
	}
}

// askResend asks the sender to post every firing alert again, without
// blocking: a request already waiting covers this one.
func (s *amSender) askResend() {
	select {
	case s.resend <- struct{}{}:
	default:
	}
}

// run posts until ctx ends.
func (s *amSender) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.resend:
			if snap := s.m.resendSnapshot(); len(snap) > 0 {
				s.post(ctx, snap)
			}
		case it := <-s.queue:
			batch := []amItem{it}
		drain:
			for len(batch) < MaxAlertsPerRequest {
				select {
				case it := <-s.queue:
					batch = append(batch, it)
				default:
					break drain
				}
			}
			s.post(ctx, batch)
		}
	}
}

// post sends items in requests of at most MaxAlertsPerRequest alerts
// and MaxRequestBody bytes.
func (s *amSender) post(ctx context.Context, items []amItem) {
	now := s.m.now()
	endsAt := now.Add(4 * s.m.resendInterval())
	var body bytes.Buffer
	n := 0
	flush := func() {
		if n == 0 {
			return
		}
		body.WriteByte(']')
		if err := s.send(ctx, body.Bytes()); err != nil {
			if ctx.Err() == nil {
				s.m.stats.amErrors.Add(1)
				s.m.log.Warn("alertmanager post failed", "alertmanager", s.shown, "alerts", n, "error", err)
			}
		} else {
			s.m.stats.alertsSent.Add(uint64(n))
		}
		body.Reset()
		n = 0
	}
	for _, it := range items {
		end := endsAt
		if !it.resolvedAt.IsZero() {
			end = it.resolvedAt
		}
		if end.Before(it.alert.StartsAt) {
			end = it.alert.StartsAt // Alertmanager refuses an end before the start
		}
		doc, err := json.Marshal(postableAlert{
			Labels: it.alert.Labels, Annotations: it.alert.Annotations,
			StartsAt: it.alert.StartsAt.UTC().Format(time.RFC3339Nano), EndsAt: end.UTC().Format(time.RFC3339Nano),
			GeneratorURL: it.alert.GeneratorURL,
		})
		if err != nil || len(doc)+2 > MaxRequestBody {
			s.m.stats.dropped.Add(1)
			continue
		}
		if n == MaxAlertsPerRequest || body.Len()+1+len(doc)+1 > MaxRequestBody {
			flush()
		}
		if n == 0 {
			body.WriteByte('[')
		} else {
			body.WriteByte(',')
		}
		body.Write(doc)
		n++
	}
	flush()
}

// send posts body, with up to amAttempts attempts for errors worth
// retrying (connection errors, timeouts, 429 and 5xx).
func (s *amSender) send(ctx context.Context, body []byte) error {
	var err error
	wait := s.m.amBackoff
	for attempt := 1; ; attempt++ {
		var retry bool
		retry, err = s.once(ctx, body)
		if err == nil || !retry || attempt >= s.m.amAttempts {
			return err
		}
		if !sleep(ctx, wait) {
			return ctx.Err()
		}
		wait *= 2
	}
}

// once makes one request; retry says whether a failure is worth another.
func (s *amSender) once(ctx context.Context, body []byte) (retry bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, s.m.requestTimeout())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.endpoint, bytes.NewReader(body))
	if err != nil {
		return false, fmt.Errorf("%s: %v", s.shown, transportError(err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", userAgent)
	if s.cfg.BearerTokenFile != "" {
		tok, err := readSecret(s.cfg.BearerTokenFile)
		if err != nil {
			return false, fmt.Errorf("bearer_token_file: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+string(tok))
	}
	resp, err := s.m.client.Do(req)
	if err != nil {
		return true, fmt.Errorf("%s: %v", s.shown, transportError(err))
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 == 2 {
		return false, nil
	}
	return retryable(resp.StatusCode), fmt.Errorf("%s: HTTP %d: %s", s.shown, resp.StatusCode, oneLine(msg))
}

// userAgent is the User-Agent of every notification request.
const userAgent = "pathlens-alert/1"

// retryable reports whether a response status is worth retrying.
func retryable(status int) bool {
	return status == http.StatusTooManyRequests || status == http.StatusRequestTimeout || status >= 500
}

// transportError is err without the *url.Error wrapper, whose text
// repeats the URL.
func transportError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return errors.New("timed out")
		}
		return ue.Err
	}
	return err
}

// oneLine is b as one line of at most 200 bytes.
func oneLine(b []byte) string {
	s := strings.Join(strings.Fields(strings.ToValidUTF8(string(b), "?")), " ")
	if s == "" {
		return "(no body)"
	}
	return cut(s, 200)
}

// sleep waits d or until ctx ends; false when ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
