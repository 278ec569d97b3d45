// Package config loads and validates the `pathlens serve` configuration
// (docs/config.md): strict YAML (unknown keys refused), defaults applied
// first, every error naming the file, line and field. A loaded Config is
// immutable; a reload builds a new one.
package config

import (
	"net/netip"
	"slices"
	"time"

	"github.com/pathlens/pathlens/assert"
	"github.com/pathlens/pathlens/probe"
	"github.com/pathlens/pathlens/serve/alert"
	"github.com/pathlens/pathlens/serve/remotewrite"
)

// Defaults for fields the file leaves out.
const (
	DefaultListen      = "127.0.0.1:9116"
	DefaultStorage     = "pathlens.db"
	DefaultRetention   = 168 * time.Hour
	DefaultInterval    = 30 * time.Second
	DefaultTimeout     = 10 * time.Second
	DefaultConcurrency = 32

	// DefaultModule is the built-in module targets without `module:` use;
	// its kind follows each target's URL scheme.
	DefaultModule = "default"
	// MinInterval and MinRetention are the smallest values accepted.
	MinInterval  = time.Second
	MinRetention = time.Hour
	// ICMP defaults, those of the icmp prober.
	DefaultICMPCount    = probe.DefaultICMPCount
	DefaultICMPInterval = probe.DefaultICMPInterval

	// DefaultProbeMaxConcurrent and DefaultProbeQueueTimeout bound the
	// GET /probe requests running at once and how long one waits for a
	// slot; MaxProbeMaxConcurrent and MaxProbeQueueTimeout are the largest
	// values accepted.
	DefaultProbeMaxConcurrent = 16
	MaxProbeMaxConcurrent     = 10000
	DefaultProbeQueueTimeout  = time.Second
	MaxProbeQueueTimeout      = time.Minute
)

// Config is a loaded, validated configuration.
type Config struct {
	// Path is the file it was loaded from ("" for built-in configs such as --demo).
	Path          string
	Listen        string
	Auth          Auth
	Storage       Storage
	Defaults      Defaults
	Modules       map[string]*Module
	Targets       []*Target // in file order; names are unique
	ProbeEndpoint ProbeEndpoint
	// AllowedHosts are the host names (lower case, no port; IP literals
	// without brackets; "*.example.com" for any name below example.com)
	// the web server answers to besides loopback names and addresses and
	// the host of Listen, so that a DNS-rebinding page cannot reach it.
	AllowedHosts []string
	// Alerting and Maintenance configure notifications (alerting.go,
	// docs/alerting.md); AlertConfig turns them into an alert.Config.
	Alerting    Alerting
	Maintenance []alert.Window
	// MemoryLimit is the Go runtime's soft memory limit in bytes
	// (runtime/debug.SetMemoryLimit); 0 leaves it to GOMEMLIMIT.
	MemoryLimit int64
	// StatusPage configures the public status page (status.go).
	StatusPage StatusPage
	// RemoteWrite are the receivers every run's series are sent to.
	RemoteWrite []remotewrite.Config
}

// Auth protects the UI and API with a bearer token when TokenFile is set.
type Auth struct {
	TokenFile string
	// Token is read from TokenFile at load; never logged, stored or shown.
	Token string `json:"-"`
	// OpenEndpoints leaves /metrics and /healthz without auth (scrapers
	// often cannot send a token). Default true. /probe, which reaches out
	// on the caller's behalf, follows ProbeEndpoint.Open instead.
	OpenEndpoints bool
}

// Storage configures the SQLite history.
type Storage struct {
	Path      string
	Retention time.Duration
}

// Defaults apply to targets that do not set their own.
type Defaults struct {
	Interval time.Duration
	Timeout  time.Duration
	// Concurrency caps probes running at once across all targets.
	Concurrency int
	// Rules are the state thresholds (failures_before_down, …) as the
	// file sets them; zero fields take the alert package's defaults.
	Rules alert.Rules
}

// Module is a named probe configuration that targets refer to.
type Module struct {
	Name string
	// Kind is the probe kind: http (also for https URLs), tcp, tls, dns, icmp, grpc (also for grpcs URLs).
	// It is "" for the built-in DefaultModule, whose kind follows each
	// target's URL scheme.
	Kind    string
	Timeout time.Duration // 0 = the target's or defaults' timeout
	HTTP    HTTPModule
	TLS     TLSModule
	DNS     DNSModule
	ICMP    ICMPModule
	GRPC    GRPCModule
	WS      WSModule // ws.go
	// IPFamily is "", "ip4" or "ip6".
	IPFamily string
	// Metrics turns on the module's optional per-target series.
	Metrics MetricsModule
	// Assert holds the module's assertions (docs/assertions.md), which
	// every probe of the module runs, its targets' and /probe's; nil
	// when it has none.
	Assert *assert.Set

	// base holds the probe options built at load (CA pool and client
	// certificate loaded once, shared by every target of the module);
	// Timeout is left 0 and set per use.
	base *probe.Options
	// byBudget holds the options targets of the module share, one per
	// budget: 100,000 targets of a few modules hold a few copies, not
	// 100,000 (Target.Options).
	byBudget map[time.Duration]*probe.Options
}

// MetricsModule turns on per-target series /metrics leaves out by
// default, because each costs every target of the module its share of
// every scrape (docs/serve.md#metrics). All default false.
type MetricsModule struct {
	PerTargetHistograms bool // pathlens_probe_duration_seconds, pathlens_probe_phase_duration_seconds
	PerTargetPhases     bool // pathlens_probe_last_phase_duration_seconds
	LastRunTimestamp    bool // pathlens_probe_last_run_timestamp_seconds
	TLSResumed          bool // pathlens_tls_handshake_resumed
}

// HTTPModule configures http modules.
type HTTPModule struct {
	Method      string
	Headers     map[string]string
	Body        string
	ValidStatus []probe.StatusRange
	HTTP2       string // auto (ALPN), off (HTTP/1.1 only), on (h2 only), h2c
	MaxBody     int64
	// MaxHeaderBytes caps the response header block (0: probe.DefaultMaxHeader).
	MaxHeaderBytes int64
	// MaxRedirects is how many redirects are followed; 0 follows none
	// (probe.Options.NoRedirects).
	MaxRedirects int
	// H2Windows are the client's HTTP/2 windows (h2_window,
	// h2_conn_window; zero = the client's defaults).
	H2Windows H2Windows
}

// H2Windows are the initial HTTP/2 stream and connection windows the
// probe's client announces, in bytes (0 = the client's default; for gRPC,
// BDP estimation).
type H2Windows struct {
	Stream, Conn int32
}

// TLSModule configures certificate handling.
type TLSModule struct {
	CAFile, CertFile, KeyFile string
	ServerName                string
	Insecure                  bool
	// ResumptionCheck runs the second connection (TLS_NO_RESUMPTION). Default true.
	ResumptionCheck bool
	// ResumptionEvery is how long scheduled probes carry a verdict before
	// testing again (probe.ResumptionMemory.Every); 0 tests on every run.
	// Default probe.DefaultResumptionEvery.
	ResumptionEvery time.Duration
}

// DNSModule configures name resolution for every probe of the module.
type DNSModule struct {
	Server string // addr:port; "" = system resolver
}

// ICMPModule configures icmp probes.
type ICMPModule struct {
	Count    int
	Interval time.Duration
}

// GRPCModule configures grpc modules (grpc:// and grpcs:// targets).
type GRPCModule struct {
	// Service is what the default grpc.health.v1 Check asks about ("" =
	// the whole server); Method, when set, is called instead
	// ("/package.Service/Method") with Request (decoded from request_hex)
	// as the raw request message.
	Service string
	Method  string
	Request []byte
	// ExpectMessages is the least number of response messages (0 = none).
	ExpectMessages int
	// H2Windows are the client's HTTP/2 windows (h2_window, h2_conn_window).
	H2Windows H2Windows
}

// Target is one scheduled probe.
type Target struct {
	Name   string
	URL    string
	Module string // DefaultModule when the file names none
	// Interval and Timeout are the effective values: the target's own, else
	// the module's timeout, else defaults.
	Interval time.Duration
	Timeout  time.Duration
	Labels   map[string]string
	// Assert holds the target's assertions: its module's, then its own
	// (nil when neither has any). They are in Options.Assertions.
	Assert *assert.Set
	// Rules are the target's state thresholds: defaults', then its own.
	Rules alert.Rules
	// SLO is the target's objective (nil: none).
	SLO *SLO
	// Parsed and Options are derived at load: the parsed URL and the probe
	// options of the module with the target's timeout applied. Options is
	// shared by the module's targets of the same budget that have no
	// assertions of their own: read it, never change it (copy it to set
	// per-run fields).
	Parsed  probe.Target
	Options *probe.Options
}

// ProbeEndpoint configures GET /probe.
type ProbeEndpoint struct {
	// Allow holds patterns SCHEME://AUTHORITY[/PATH] a /probe target must
	// match; empty refuses every target. The target is parsed first and
	// each part matched on its own, so a '*' in the authority can never
	// reach into the path (see Allowed and docs/config.md).
	Allow []string
	// Modules are the configured modules /probe may use besides the
	// built-in default module (see ModuleAllowed); a module may carry a
	// client certificate, headers or a token, so none is open unless
	// listed.
	Modules []string
	// Open leaves /probe without auth when Auth.TokenFile is set
	// (default false: /probe needs the token like the UI and API).
	Open bool
	// DenyNetworks are address ranges /probe never connects to, whatever
	// the allow list says (masked; IPv4-mapped ranges are stored as IPv4).
	DenyNetworks []netip.Prefix
	// MaxConcurrent caps the /probe requests running at once, and
	// QueueTimeout is how long one waits for a slot before it is refused.
	// Load sets DefaultProbeMaxConcurrent and DefaultProbeQueueTimeout
	// when the file leaves them out.
	MaxConcurrent int
	QueueTimeout  time.Duration
}

// ModuleAllowed reports whether GET /probe may use the module called
// name: "" and DefaultModule (the built-in module, which carries no
// credentials) always, others only when probe_endpoint.modules lists them.
// It does not check that the module exists.
func (p ProbeEndpoint) ModuleAllowed(name string) bool {
	return name == "" || name == DefaultModule || slices.Contains(p.Modules, name)
}
