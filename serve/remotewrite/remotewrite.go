// Package remotewrite sends the latest-run series of every scheduled
// probe to Prometheus-compatible receivers with the remote write protocol
// (1.0, which Prometheus 2.x, Mimir, Thanos, Cortex and VictoriaMetrics all
// accept), so that a pathlens nobody can scrape — an agent behind NAT, one
// of a fleet — still feeds the dashboards and alert rules (docs/serve.md#remote-write).
//
// Each run becomes a handful of samples stamped with the run's start:
// pathlens_probe_success, pathlens_probe_last_duration_seconds,
// pathlens_probe_last_phase_duration_seconds per completed phase and
// pathlens_finding_active per finding, with the labels target, module and
// the target's own. Observe never blocks: samples wait in a bounded queue
// per receiver (the oldest are dropped, and counted, when it is full) and
// one goroutine per receiver sends them in batches, with retries and
// backoff (github.com/prometheus/client_golang/exp/api/remote).
package remotewrite

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/exp/api/remote"

	"github.com/pathlens/pathlens/probe"
	"github.com/pathlens/pathlens/serve/remotewrite/prompb"
)

// Limits and defaults.
const (
	// QueueSeries is how many series (one sample each) wait for each
	// receiver; past it the oldest tenth is dropped.
	QueueSeries = 100_000
	// BatchSeries is the most series one request carries; BatchWait how
	// long a partial batch waits for more.
	BatchSeries = 2000
	BatchWait   = time.Second
	// RequestTimeout bounds one request, retries apart.
	RequestTimeout = 10 * time.Second
	maxTokenFile   = 64 << 10
)

// backoff is the retry schedule of a failed request; tests shorten it.
var backoff = remote.BackoffConfig{Min: 200 * time.Millisecond, Max: 5 * time.Second, MaxRetries: 4}

// Config is one receiver (remote_write[i]).
type Config struct {
	// URL is the receiver's write endpoint, e.g.
	// http://prometheus:9090/api/v1/write.
	URL string
	// BearerTokenFile, when set, holds the token sent as
	// "Authorization: Bearer TOKEN"; it is read at every request and never
	// shown.
	BearerTokenFile string
}

// Check reports what is wrong with c, naming the field ("url",
// "bearer_token_file") and never a password or the token.
func (c Config) Check() (field string, err error) {
	u, perr := url.Parse(c.URL)
	switch {
	case perr != nil || u.Host == "":
		return "url", fmt.Errorf("%s: want an http or https URL with a host", Redact(c.URL))
	case u.Scheme != "http" && u.Scheme != "https":
		return "url", fmt.Errorf("%s: want an http or https URL", Redact(c.URL))
	case u.User != nil:
		return "url", fmt.Errorf("%s: put credentials in bearer_token_file, not in the URL", Redact(c.URL))
	}
	if c.BearerTokenFile != "" {
		if _, err := readToken(c.BearerTokenFile); err != nil {
			return "bearer_token_file", err
		}
	}
	return "", nil
}

// Redact is raw without user info and query values, for messages.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		if i := strings.IndexAny(raw, "@?"); i >= 0 {
			return "(a URL that does not parse)"
		}
		return raw
	}
	if u.User != nil {
		u.User = url.User("xxxxx")
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			q[k] = []string{"xxxxx"}
		}
		u.RawQuery = q.Encode()
	}
	return u.String()
}

func readToken(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return "", fmt.Errorf("%s: %v", path, pe.Err)
		}
		return "", err
	}
	defer f.Close()
	b := make([]byte, maxTokenFile+1)
	n, _ := f.Read(b)
	if n > maxTokenFile {
		return "", fmt.Errorf("%s: over %d bytes", path, maxTokenFile)
	}
	tok := strings.TrimSpace(string(b[:n]))
	if tok == "" || strings.ContainsAny(tok, " \t\r\n") {
		return "", fmt.Errorf("%s: want one line holding the token", path)
	}
	return tok, nil
}

// Stats counts what the Writer did since it was made, over every
// receiver.
type Stats struct {
	// Samples counts samples receivers accepted; Failed those of requests
	// given up on after their retries; Dropped those a full queue turned
	// away.
	Samples, Failed, Dropped uint64
}

// Writer sends runs to the receivers. It is safe for concurrent use.
type Writer struct {
	senders                  []*sender
	log                      *slog.Logger
	samples, failed, dropped atomic.Uint64
	closing                  context.CancelFunc
	closed                   atomic.Bool // Observe does nothing once set
	wg                       sync.WaitGroup
	once                     sync.Once
}

// New starts a Writer for cfgs (each checked with Config.Check); log
// receives failed requests. Close stops it.
func New(cfgs []Config, log *slog.Logger) (*Writer, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &Writer{log: log, closing: cancel}
	for i, c := range cfgs {
		if field, err := c.Check(); err != nil {
			cancel()
			return nil, fmt.Errorf("remote_write[%d].%s: %w", i, field, err)
		}
		s, err := newSender(w, c)
		if err != nil {
			cancel()
			return nil, fmt.Errorf("remote_write[%d]: %w", i, err)
		}
		w.senders = append(w.senders, s)
	}
	for _, s := range w.senders {
		w.wg.Add(1)
		go func() { defer w.wg.Done(); s.run(ctx) }()
	}
	return w, nil
}

// Stats returns the counters.
func (w *Writer) Stats() Stats {
	return Stats{Samples: w.samples.Load(), Failed: w.failed.Load(), Dropped: w.dropped.Load()}
}

// Close stops sending: the batch in flight is given its request timeout,
// queued samples are dropped, and Observe does nothing from then on. It
// waits for every goroutine.
func (w *Writer) Close() {
	w.once.Do(func() {
		w.closed.Store(true)
		w.closing()
		w.wg.Wait()
		for _, s := range w.senders {
			s.client.CloseIdleConnections()
		}
	})
}

// Observe queues the samples of one run of target (its module and own
// labels as configured). It never blocks.
func (w *Writer) Observe(target, module string, labels map[string]string, r *probe.Result) {
	if w == nil || len(w.senders) == 0 || r == nil || w.closed.Load() {
		return
	}
	ts := Series(target, module, labels, r)
	for _, s := range w.senders {
		s.enqueue(ts)
	}
}

// Series is what Observe sends for one run: one sample per series, at
// the run's start.
func Series(target, module string, labels map[string]string, r *probe.Result) []*prompb.TimeSeries {
	at := r.StartedAt
	if at.IsZero() {
		at = time.Now()
	}
	ms := at.UnixMilli()
	base := make([]*prompb.Label, 0, len(labels)+3)
	for k, v := range labels {
		base = append(base, &prompb.Label{Name: k, Value: v})
	}
	base = append(base, &prompb.Label{Name: "module", Value: module}, &prompb.Label{Name: "target", Value: target})
	one := func(name string, v float64, extra ...string) *prompb.TimeSeries {
		ls := make([]*prompb.Label, 0, len(base)+1+len(extra)/2)
		ls = append(ls, &prompb.Label{Name: "__name__", Value: name})
		ls = append(ls, base...)
		for i := 0; i+1 < len(extra); i += 2 {
			ls = append(ls, &prompb.Label{Name: extra[i], Value: extra[i+1]})
		}
		slices.SortFunc(ls, func(a, b *prompb.Label) int { return strings.Compare(a.Name, b.Name) })
		return &prompb.TimeSeries{Labels: ls, Samples: []*prompb.Sample{{Value: v, Timestamp: ms}}}
	}
	success := 0.0
	if r.Success {
		success = 1
	}
	out := []*prompb.TimeSeries{
		one("pathlens_probe_success", success),
		one("pathlens_probe_last_duration_seconds", r.TotalMS/1e3),
	}
	for _, p := range r.Phases {
		if p.Incomplete {
			continue
		}
		out = append(out, one("pathlens_probe_last_phase_duration_seconds", p.DurationMS/1e3, "phase", p.Name))
	}
	for _, f := range r.Findings {
		out = append(out, one("pathlens_finding_active", 1, "id", f.ID, "severity", string(f.Severity)))
	}
	return out
}

// sender is one receiver's queue and loop.
type sender struct {
	w      *Writer
	cfg    Config
	shown  string // the URL, redacted
	api    *remote.API
	client *http.Client

	mu    sync.Mutex
	queue []*prompb.TimeSeries // oldest first, at most QueueSeries
	ready chan struct{}        // a send may start: signalled on enqueue
}

func newSender(w *Writer, c Config) (*sender, error) {
	s := &sender{w: w, cfg: c, shown: Redact(c.URL), ready: make(chan struct{}, 1)}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 2
	s.client = &http.Client{
		Transport: &tokenTransport{next: tr, file: c.BearerTokenFile},
		Timeout:   RequestTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // never carry the token elsewhere
		},
	}
	u, err := url.Parse(c.URL)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.shown, err)
	}
	path := u.Path
	u.Path, u.RawPath = "", ""
	api, err := remote.NewAPI(u.String(), remote.WithAPIHTTPClient(s.client), remote.WithAPIPath(strings.TrimPrefix(path, "/")),
		remote.WithAPIBackoff(backoff),
		remote.WithAPILogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.shown, err)
	}
	s.api = api
	return s, nil
}

func (s *sender) enqueue(ts []*prompb.TimeSeries) {
	s.mu.Lock()
	s.queue = append(s.queue, ts...)
	if len(s.queue) > QueueSeries {
		// The oldest go first, a tenth of the queue at a time so that a
		// receiver that stays away costs no copy of the queue per run.
		over := len(s.queue) - QueueSeries*9/10
		s.queue = slices.Delete(s.queue, 0, over)
		s.w.dropped.Add(uint64(over))
	}
	s.mu.Unlock()
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// take removes and returns up to BatchSeries of the oldest series.
func (s *sender) take() []*prompb.TimeSeries {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := min(len(s.queue), BatchSeries)
	if n == 0 {
		return nil
	}
	batch := slices.Clone(s.queue[:n])
	s.queue = slices.Delete(s.queue, 0, n)
	if len(s.queue) == 0 {
		s.queue = nil // let the backing array go after a burst
	}
	return batch
}

func (s *sender) queued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue)
}

// run sends batches until ctx ends: a full batch at once, a partial one
// after BatchWait.
func (s *sender) run(ctx context.Context) {
	tick := time.NewTicker(BatchWait)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-s.ready:
			if s.queued() < BatchSeries {
				continue // wait for the tick or a full batch
			}
		}
		for {
			batch := s.take()
			if batch == nil {
				break
			}
			s.send(ctx, batch)
			if ctx.Err() != nil {
				return
			}
		}
	}
}

func (s *sender) send(ctx context.Context, batch []*prompb.TimeSeries) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 4*RequestTimeout)
	defer cancel()
	_, err := s.api.Write(ctx, remote.WriteV1MessageType, &prompb.WriteRequest{Timeseries: batch})
	if err != nil {
		s.w.failed.Add(uint64(len(batch)))
		s.w.log.Warn("remote write failed", "url", s.shown, "series", len(batch), "error", scrub(err, s.cfg.URL, s.shown))
		return
	}
	s.w.samples.Add(uint64(len(batch)))
}

// scrub is err's text with the URL as configured replaced by its
// redacted form.
func scrub(err error, raw, shown string) string {
	msg := err.Error()
	if raw != "" {
		msg = strings.ReplaceAll(msg, raw, shown)
	}
	return msg
}

// tokenTransport adds the bearer token, read from its file at every
// request so that a rotated token is picked up.
type tokenTransport struct {
	next http.RoundTripper
	file string
}

func (t *tokenTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.file == "" {
		return t.next.RoundTrip(req)
	}
	tok, err := readToken(t.file)
	if err != nil {
		return nil, err
	}
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Bearer "+tok)
	return t.next.RoundTrip(req)
}
