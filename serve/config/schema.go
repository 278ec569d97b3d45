package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/pathlens/pathlens/internal/optparse"
)

// The file's schema: what yaml.v3 decodes the document into, strictly
// (KnownFields), before the checks that build a Config. A key the
// structs do not name is refused with the keys they do name, in field
// order; a leaf is a scalar type below that keeps its node, so that the
// checks can point at its line. Lists whose items have their own
// message ("want a host name") and values of more than one shape
// (valid_status, claims) stay yaml.Node.
type (
	rawConfig struct {
		Listen        str                   `yaml:"listen"`
		AllowedHosts  []yaml.Node           `yaml:"allowed_hosts"`
		Auth          rawAuth               `yaml:"auth"`
		Storage       rawStorage            `yaml:"storage"`
		Defaults      rawDefaults           `yaml:"defaults"`
		Modules       map[string]*rawModule `yaml:"modules"`
		Targets       []*rawTarget          `yaml:"targets"`
		ProbeEndpoint rawProbeEndpoint      `yaml:"probe_endpoint"`
		Alerting      rawAlerting           `yaml:"alerting"`
		Maintenance   []*rawWindow          `yaml:"maintenance"`
		MemoryLimit   size                  `yaml:"memory_limit"`
		StatusPage    rawStatusPage         `yaml:"status_page"`
		RemoteWrite   []*rawRemoteWrite     `yaml:"remote_write"`
	}
	rawAuth struct {
		TokenFile     str     `yaml:"token_file"`
		OpenEndpoints boolean `yaml:"open_endpoints"`
	}
	rawStorage struct {
		Path      str `yaml:"path"`
		Retention dur `yaml:"retention"`
	}
	rawDefaults struct {
		Interval    dur     `yaml:"interval"`
		Timeout     dur     `yaml:"timeout"`
		Concurrency integer `yaml:"concurrency"`
		rawRules    `yaml:",inline"`
	}
	// rawModule's pointer fields are its option sections (nil: not set),
	// named as in probe.Kind.Sections.
	rawModule struct {
		Kind     str      `yaml:"kind"`
		Timeout  dur      `yaml:"timeout"`
		IPFamily str      `yaml:"ip_family"`
		HTTP     *rawHTTP `yaml:"http"`
		TLS      *rawTLS  `yaml:"tls"`
		DNS      *rawDNS  `yaml:"dns"`
		ICMP     *rawICMP `yaml:"icmp"`
		GRPC     *rawGRPC `yaml:"grpc"`
		WS       *rawWS   `yaml:"ws"`
		// Metrics is serve's own, not a probe option section: any kind
		// may set it (so it is not a pointer field).
		Metrics rawMetrics `yaml:"metrics"`
		// Assert holds expressions or {expr, severity} mappings
		// (assert.go); any kind takes it.
		Assert []yaml.Node `yaml:"assert"`
	}
	rawMetrics struct {
		PerTargetHistograms boolean `yaml:"per_target_histograms"`
		PerTargetPhases     boolean `yaml:"per_target_phases"`
		LastRunTimestamp    boolean `yaml:"last_run_timestamp"`
		TLSResumed          boolean `yaml:"tls_resumed"`
	}
	rawHTTP struct {
		Method         str            `yaml:"method"`
		Headers        map[string]str `yaml:"headers"` // in file order: decoder.entries
		Body           str            `yaml:"body"`
		ValidStatus    yaml.Node      `yaml:"valid_status"`
		HTTP2          str            `yaml:"http2"`
		MaxBody        size           `yaml:"max_body"`
		MaxHeaderBytes size           `yaml:"max_header_bytes"`
		MaxRedirects   integer        `yaml:"max_redirects"`
		H2Window       size           `yaml:"h2_window"`
		H2ConnWindow   size           `yaml:"h2_conn_window"`
	}
	rawTLS struct {
		CAFile          str     `yaml:"ca_file"`
		CertFile        str     `yaml:"cert_file"`
		KeyFile         str     `yaml:"key_file"`
		ServerName      str     `yaml:"server_name"`
		Insecure        boolean `yaml:"insecure"`
		ResumptionCheck boolean `yaml:"resumption_check"`
		ResumptionEvery dur     `yaml:"resumption_check_every"`
	}
	rawDNS struct {
		Server str `yaml:"server"`
	}
	rawICMP struct {
		Count    integer `yaml:"count"`
		Interval dur     `yaml:"interval"`
	}
	rawGRPC struct {
		Service        str     `yaml:"service"`
		Method         str     `yaml:"method"`
		RequestHex     str     `yaml:"request_hex"`
		ExpectMessages integer `yaml:"expect_messages"`
		H2Window       size    `yaml:"h2_window"`
		H2ConnWindow   size    `yaml:"h2_conn_window"`
	}
	rawWS struct {
		Send         str    `yaml:"send"`
		PingInterval dur    `yaml:"ping_interval"`
		Hold         dur    `yaml:"hold"`
		BearerFile   str    `yaml:"bearer_file"`
		TokenParam   str    `yaml:"token_param"`
		JWT          rawJWT `yaml:"jwt"`
		MaxMessage   size   `yaml:"max_message"`
	}
	rawJWT struct {
		SecretFile str       `yaml:"secret_file"`
		KeyFile    str       `yaml:"key_file"`
		Claims     yaml.Node `yaml:"claims"`
		TTL        dur       `yaml:"ttl"`
	}
	rawTarget struct {
		Name     str            `yaml:"name"`
		URL      str            `yaml:"url"`
		Module   str            `yaml:"module"`
		Interval dur            `yaml:"interval"`
		Timeout  dur            `yaml:"timeout"`
		Labels   map[string]str `yaml:"labels"` // in file order: decoder.entries
		Assert   []yaml.Node    `yaml:"assert"` // as a module's (assert.go)
		SLO      *rawSLO        `yaml:"slo"`
		rawRules `yaml:",inline"`
	}
	rawProbeEndpoint struct {
		Allow         []yaml.Node `yaml:"allow"`
		Modules       []yaml.Node `yaml:"modules"`
		Open          boolean     `yaml:"open"`
		DenyNetworks  []yaml.Node `yaml:"deny_networks"`
		MaxConcurrent integer     `yaml:"max_concurrent"`
		QueueTimeout  dur         `yaml:"queue_timeout"`
	}
)

// sections lists the option sections m sets, in field order.
func (m *rawModule) sections() []string {
	var out []string
	v := reflect.ValueOf(m).Elem()
	for i := range v.NumField() {
		if f := v.Field(i); f.Kind() == reflect.Pointer && !f.IsNil() {
			out = append(out, yamlKey(v.Type().Field(i)))
		}
	}
	return out
}

// givenKeys lists, in struct order, the keys of a raw section (a pointer
// to one of the raw structs) that the file sets.
func givenKeys(section any) []string {
	var out []string
	v := reflect.ValueOf(section).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		given := false
		switch {
		case f.Type() == reflect.TypeFor[yaml.Node]():
			given = f.FieldByName("Kind").Uint() != 0
		case f.Kind() == reflect.Struct:
			n := f.FieldByName("N")
			given = n.IsValid() && !n.IsNil()
		case f.Kind() == reflect.Map, f.Kind() == reflect.Pointer, f.Kind() == reflect.Slice:
			given = !f.IsNil()
		}
		if given {
			out = append(out, yamlKey(v.Type().Field(i)))
		}
	}
	return out
}

// scalar is what the scalar types hold: the value and its node, nil
// when the key is absent or null (yaml.v3 calls no unmarshaler for a
// null), so that a null value counts as left out. A value of the wrong
// shape or text fails the decode with the message the user sees
// (typeError).
type scalar[T any] struct {
	V T
	N *yaml.Node
}

// set stores the value in *dst when it is given and returns its node
// (nil: left out, *dst untouched).
func (s scalar[T]) set(dst *T) *yaml.Node {
	if s.N != nil {
		*dst = s.V
	}
	return s.N
}

// The scalar types: a string (any scalar), a duration, a boolean
// (true/false, yes/no, on/off), a whole number and a size (1000, 512KiB).
type (
	str     struct{ scalar[string] }
	dur     struct{ scalar[time.Duration] }
	boolean struct{ scalar[bool] }
	integer struct{ scalar[int] }
	size    struct{ scalar[int64] }
)

func (s *str) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return typeError(n, "want a string, got %s", describe(n))
	}
	s.V, s.N = n.Value, n
	return nil
}

func (d *dur) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return typeError(n, "want a duration, got %s", describe(n))
	}
	v, err := time.ParseDuration(strings.TrimSpace(n.Value))
	if err != nil {
		return typeError(n, "bad duration %q (want e.g. 500ms, 10s or 1m)", n.Value)
	}
	d.V, d.N = v, n
	return nil
}

func (b *boolean) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return typeError(n, "want true or false, got %s", describe(n))
	}
	switch strings.ToLower(n.Value) {
	case "true", "yes", "on":
		b.V = true
	case "false", "no", "off":
		b.V = false
	default:
		return typeError(n, "want true or false, got %q", n.Value)
	}
	b.N = n
	return nil
}

func (i *integer) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return typeError(n, "want a number, got %s", describe(n))
	}
	v, err := strconv.Atoi(strings.TrimSpace(n.Value))
	if err != nil {
		return typeError(n, "want a whole number, got %q", n.Value)
	}
	i.V, i.N = v, n
	return nil
}

func (s *size) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return typeError(n, "want a size, got %s", describe(n))
	}
	v, err := optparse.ParseSize(n.Value)
	if err != nil {
		return typeError(n, "bad size %q (want e.g. 1000, 512KiB or 10MiB)", n.Value)
	}
	s.V, s.N = v, n
	return nil
}

// valueMark starts the text of a typeError after yaml.v3's "line N: ",
// followed by the column, valueMark again and the message: decodeError
// reads the node's position back to find its field.
const valueMark = "\x00"

// typeError is a scalar type's refusal of node n. It is a
// *yaml.TypeError so that yaml.v3 collects it in document order with its
// own errors (unknown fields) instead of stopping the decode.
func typeError(n *yaml.Node, format string, args ...any) error {
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %s%d%s%s", n.Line, valueMark, n.Column, valueMark, fmt.Sprintf(format, args...))}}
}

// schemaKeys maps each struct of the schema, by its name in yaml.v3's
// errors ("config.rawTarget"), to its keys in field order.
var schemaKeys = func() map[string][]string {
	m := map[string][]string{}
	addSchemaKeys(m, reflect.TypeFor[rawConfig]())
	return m
}()

var (
	nodeType        = reflect.TypeFor[yaml.Node]()
	unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()
)

func addSchemaKeys(m map[string][]string, t reflect.Type) {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || t == nodeType || reflect.PointerTo(t).Implements(unmarshalerType) || m[t.String()] != nil {
		return
	}
	m[t.String()] = inlineKeys(m, t)
}

// inlineKeys lists struct t's keys, those of its ",inline" fields in
// their place, and adds the structs of its fields to m.
func inlineKeys(m map[string][]string, t reflect.Type) []string {
	var keys []string
	for i := range t.NumField() {
		f := t.Field(i)
		if strings.Contains(f.Tag.Get("yaml"), ",inline") {
			keys = append(keys, inlineKeys(m, f.Type)...)
			continue
		}
		keys = append(keys, yamlKey(f))
		addSchemaKeys(m, f.Type)
	}
	return keys
}

func yamlKey(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	return name
}

// keysOf lists the keys of schema struct v, for messages.
func keysOf(v any) string {
	return strings.Join(schemaKeys[reflect.TypeOf(v).String()], ", ")
}
