package probe

import (
	"slices"
	"strings"
)

// Kind is one protocol pathlens probes, as its prober package registers
// it: the one place that says which URL schemes it takes, which phases
// its Results hold and which settings it refuses. The CLI, serve/config
// and probe.Run all read kinds from here, so adding a kind is one
// package and one RegisterKind call.
type Kind struct {
	// Name is what a serve module's kind: says ("http", "tcp", "tls",
	// "dns", "icmp", "grpc", "ws").
	Name string
	// Schemes are the target URL schemes the kind probes (http: http and
	// https); the first is the scheme of the same name.
	Schemes []string
	// Phases are the phase names the kind's Results can hold, in the
	// order they happen.
	Phases []string
	// Sections are the option sections the kind reads, named as the
	// first part of the neutral setting keys (FieldError.Key): "http"
	// (method, headers, body, status, limits), "h2" (the HTTP/2
	// windows), "tls", "dns" (the resolver), "icmp", "grpc", "ws". A
	// front end refuses a section the kind of its target does not read:
	// serve/config a module's section (modules.NAME.ws on a module of
	// kind http), the CLI the flags of one (--send on an https:// target).
	Sections []string
	// Prober runs the probes.
	Prober Prober
	// Validate holds the kind's own rules on Options, next to the common
	// ones of Options.Validate (nil: none). given reports whether the
	// caller's user typed a setting (see Options.ValidateGiven); it is
	// never nil.
	Validate func(o *Options, given func(key string) bool) FieldErrors
}

// SchemeList names the kind's schemes for people: "http:// and https://".
func (k Kind) SchemeList() string {
	s := make([]string, len(k.Schemes))
	for i, sc := range k.Schemes {
		s[i] = sc + "://"
	}
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

// Accepts reports whether the kind reads the option section (Sections).
func (k Kind) Accepts(section string) bool { return slices.Contains(k.Sections, section) }

var (
	kindsByName   = map[string]Kind{}
	kindsByScheme = map[string]Kind{}
)

// RegisterKind makes a kind available; prober packages call it from
// their init functions. A later registration of the same name or scheme
// replaces the earlier one.
func RegisterKind(k Kind) {
	regMu.Lock()
	defer regMu.Unlock()
	kindsByName[k.Name] = k
	for _, s := range k.Schemes {
		kindsByScheme[s] = k
		registry[s] = k.Prober
	}
}

// KindFor returns the kind that probes URLs of scheme (case-insensitive).
func KindFor(scheme string) (Kind, bool) {
	regMu.RLock()
	defer regMu.RUnlock()
	k, ok := kindsByScheme[strings.ToLower(scheme)]
	return k, ok
}

// LookupKind returns the kind called name.
func LookupKind(name string) (Kind, bool) {
	regMu.RLock()
	defer regMu.RUnlock()
	k, ok := kindsByName[name]
	return k, ok
}

// KindNames lists the registered kinds' names, sorted.
func KindNames() []string {
	regMu.RLock()
	defer regMu.RUnlock()
	out := make([]string, 0, len(kindsByName))
	for n := range kindsByName {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// KindsWith lists the registered kinds that read the option section,
// sorted by name.
func KindsWith(section string) []Kind {
	var out []Kind
	for _, n := range KindNames() {
		if k, _ := LookupKind(n); k.Accepts(section) {
			out = append(out, k)
		}
	}
	return out
}
