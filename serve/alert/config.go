package alert

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"
)

// Defaults and limits of Config.
const (
	DefaultResendInterval = time.Minute
	MinResendInterval     = time.Second
	MaxResendInterval     = time.Hour
	DefaultRequestTimeout = 10 * time.Second
	MaxRequestTimeout     = time.Minute

	// MaxAlertsPerRequest and MaxRequestBody bound one POST to an
	// Alertmanager: more alerts go in several requests.
	MaxAlertsPerRequest = 64
	MaxRequestBody      = 512 << 10
	// AlertmanagerQueue is how many alert changes wait for each
	// Alertmanager; WebhookQueue how many documents for each webhook.
	// Past them a change is dropped and counted (Stats.Dropped); the
	// periodic resend still brings an Alertmanager up to date.
	AlertmanagerQueue = 10000
	WebhookQueue      = 1000
	// DeliveriesPerTarget is how many webhook deliveries Deliveries
	// keeps per target.
	DeliveriesPerTarget = 20
	// MaxAnnotation caps an annotation (summary, advice, description)
	// and a finding's texts in a webhook document, in bytes.
	MaxAnnotation = 4096
	// maxSecretFile caps a token or secret file.
	maxSecretFile = 64 << 10
)

// Config configures a Manager. The zero Config is valid: it tracks
// states and sends nothing.
type Config struct {
	// ExternalURL is where people reach this pathlens's UI, without a
	// trailing slash ("https://pathlens.example.com"): links to a target
	// are ExternalURL + "/targets/" + the escaped name. Empty: no links.
	ExternalURL string
	// Alertmanagers receive PathlensTargetDown and PathlensFinding
	// alerts (alerting.alertmanagers).
	Alertmanagers []AlertmanagerConfig
	// Webhooks receive one signed JSON document per state change
	// (alerting.webhooks).
	Webhooks []WebhookConfig
	// MinLocations is alerting.min_locations. This pathlens probes from
	// one location, so only 0 and 1 are accepted (see docs/alerting.md).
	MinLocations int
	// Maintenance holds the maintenance windows (maintenance).
	Maintenance []Window
	// Location is the time zone of cron expressions without CRON_TZ
	// (time.Local when nil).
	Location *time.Location
	// Rules are the default thresholds (failures_before_down,
	// successes_before_up, … under defaults); TargetRules the effective
	// ones of targets whose own or module's differ, by target name.
	Rules       Rules
	TargetRules map[string]Rules
	// ResendInterval is how often every firing alert is posted again
	// (default 1 min); each post says it ends 4 intervals later, so an
	// Alertmanager resolves the alerts of a pathlens that died.
	ResendInterval time.Duration
	// RequestTimeout bounds each HTTP request to an Alertmanager or a
	// webhook (default 10 s).
	RequestTimeout time.Duration
}

// AlertmanagerConfig is one Alertmanager (alerting.alertmanagers[i]).
type AlertmanagerConfig struct {
	// URL is the Alertmanager's base URL, with its route prefix if any
	// ("http://alertmanager:9093"); alerts go to URL + "/api/v2/alerts".
	URL string
	// BearerTokenFile, when set, holds the token sent as
	// "Authorization: Bearer TOKEN". It is read at every request, so a
	// rotated token is picked up; it never appears in logs or errors.
	BearerTokenFile string
}

// WebhookConfig is one webhook (alerting.webhooks[i]).
type WebhookConfig struct {
	// URL receives the documents (POST). User info is sent as basic
	// auth and never shown (Deliveries, logs).
	URL string
	// SecretFile, when set, holds the HMAC-SHA256 key the documents are
	// signed with (X-Pathlens-Signature); read at every delivery.
	SecretFile string
}

// withDefaults returns c with defaults filled in.
func (c Config) withDefaults() Config {
	if c.ResendInterval == 0 {
		c.ResendInterval = DefaultResendInterval
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	c.ExternalURL = strings.TrimRight(c.ExternalURL, "/")
	c.Rules = c.Rules.WithDefaults()
	return c
}

// Validate checks c: URLs, that token and secret files are readable and
// not empty, durations, thresholds and maintenance windows. Every error
// is a *FieldError named as in the config file
// ("alerting.alertmanagers[0].url: …", "maintenance[1].cron: …"), joined
// with errors.Join when there are several.
func (c Config) Validate() error {
	var errs []error
	if c.ExternalURL != "" {
		if err := checkURL(c.ExternalURL, false); err != nil {
			errs = append(errs, &FieldError{Field: "alerting.external_url", Err: err})
		}
	}
	for i, a := range c.Alertmanagers {
		p := fmt.Sprintf("alerting.alertmanagers[%d]", i)
		if err := checkURL(a.URL, true); err != nil {
			errs = append(errs, &FieldError{Field: p + ".url", Err: err})
		} else if u, _ := url.Parse(a.URL); u.User != nil && a.BearerTokenFile != "" {
			errs = append(errs, fieldErrorf(p+".url", "has a user name and bearer_token_file is set too: use one of them"))
		}
		if u, err := url.Parse(a.URL); err == nil && u.RawQuery != "" {
			errs = append(errs, fieldErrorf(p+".url", "%s: a base URL takes no query", redactURL(a.URL)))
		}
		if a.BearerTokenFile != "" {
			if _, err := readSecret(a.BearerTokenFile); err != nil {
				errs = append(errs, &FieldError{Field: p + ".bearer_token_file", Err: err})
			}
		}
	}
	for i, w := range c.Webhooks {
		p := fmt.Sprintf("alerting.webhooks[%d]", i)
		if err := checkURL(w.URL, true); err != nil {
			errs = append(errs, &FieldError{Field: p + ".url", Err: err})
		}
		if w.SecretFile != "" {
			if _, err := readSecret(w.SecretFile); err != nil {
				errs = append(errs, &FieldError{Field: p + ".secret_file", Err: err})
			}
		}
	}
	if c.MinLocations < 0 || c.MinLocations > 1 {
		errs = append(errs, fieldErrorf("alerting.min_locations", "%d: this pathlens probes from one location, so a target could never be seen down from %d; leave it out or set 1", c.MinLocations, c.MinLocations))
	}
	if d := c.ResendInterval; d != 0 && (d < MinResendInterval || d > MaxResendInterval) {
		errs = append(errs, fieldErrorf("alerting.resend_interval", "%s: want %s to %s", d, MinResendInterval, MaxResendInterval))
	}
	if d := c.RequestTimeout; d < 0 || d > MaxRequestTimeout {
		errs = append(errs, fieldErrorf("alerting.timeout", "%s: want more than 0 and at most %s", d, MaxRequestTimeout))
	}
	if err := c.Rules.Validate(); err != nil {
		errs = append(errs, prefixed("defaults", err))
	}
	for name, r := range c.TargetRules {
		if err := r.Validate(); err != nil {
			errs = append(errs, prefixed(fmt.Sprintf("targets[%q]", name), err))
		}
	}
	if _, err := NewMaintenance(c.Maintenance, c.Location); err != nil {
		errs = append(errs, err)
	}
	return joinErrors(errs)
}

// checkURL checks an absolute http or https URL with a host; userInfo
// allows a user name and password.
func checkURL(raw string, userInfo bool) error {
	u, err := url.Parse(raw)
	if err != nil {
		if strings.Contains(raw, "@") {
			// The parser's message quotes the part it choked on, which
			// can be a piece of the password ("http://u:pa/ss@h" gives
			// `invalid port ":pa"`): say nothing of it.
			return errors.New("not a URL (its user info is malformed; the URL is not shown, as it may hold a password)")
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error repeats the URL
		}
		return fmt.Errorf("not a URL: %v", err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%s: want an http or https URL", redactURL(raw))
	case u.Host == "":
		return fmt.Errorf("%s: no host", redactURL(raw))
	case u.Fragment != "":
		return fmt.Errorf("%s: a URL here takes no #fragment", redactURL(raw))
	case u.User != nil && !userInfo:
		return fmt.Errorf("%s: takes no user name or password", redactURL(raw))
	}
	return nil
}

// readSecret reads a token or secret file, trimming surrounding white
// space. Its errors name the file, never its content.
func readSecret(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", path, unwrapPath(err))
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", path, unwrapPath(err))
	}
	if len(b) > maxSecretFile {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxSecretFile)
	}
	b = []byte(strings.TrimSpace(string(b)))
	if len(b) == 0 {
		return nil, fmt.Errorf("%s is empty", path)
	}
	return b, nil
}

// unwrapPath drops the *fs.PathError wrapper (whose text repeats the
// path) to its cause.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// redactURL returns raw with its user info and query values replaced by
// "REDACTED" (query keys kept), for logs, errors and Deliveries. A
// secret in the path is not recognised: keep secrets in user info, the
// query or secret_file.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return redactedString(u)
}

// redactedString is redactURL of a parsed URL.
func redactedString(u *url.URL) string {
	c := *u
	if c.User != nil {
		c.User = url.User("REDACTED")
	}
	if c.RawQuery != "" {
		q := c.Query()
		for k, vs := range q {
			for i := range vs {
				vs[i] = "REDACTED"
			}
			q[k] = vs
		}
		c.RawQuery = q.Encode()
	}
	return c.String()
}
