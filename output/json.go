package output

import (
	"encoding/json"
	"errors"
	"io"

	"github.com/pathlens/pathlens/probe"
)

// JSON writes the Result as the JSON object of docs/result.md, indented by two
// spaces and followed by a newline, and nothing else. "error" is null on
// success. Absent lists are written as [] rather than null (phases,
// findings, tls.chain, http.redirects) and an empty schema as
// probe.Schema; r itself is not modified.
func JSON(w io.Writer, r *probe.Result) error {
	if r == nil {
		return errors.New("output: nil result")
	}
	return writeJSON(w, normalize(r))
}

// JSONRuns writes the results of a repeated check and their summary as
// {"runs":[…],"summary":{…}} (docs/cli.md), indented by two spaces and
// followed by a newline.
func JSONRuns(w io.Writer, rs []*probe.Result, s Summary) error {
	runs := make([]probe.Result, 0, len(rs))
	for _, r := range rs {
		if r != nil {
			runs = append(runs, normalize(r))
		}
	}
	return writeJSON(w, struct {
		Runs    []probe.Result `json:"runs"`
		Summary Summary        `json:"summary"`
	}{runs, s.normalize()})
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// normalize returns a shallow copy of r whose lists are non-nil, so that
// JSON consumers always see arrays.
func normalize(r *probe.Result) probe.Result {
	c := *r
	if c.Schema == "" {
		c.Schema = probe.Schema
	}
	if c.Phases == nil {
		c.Phases = []probe.Phase{}
	}
	if c.Findings == nil {
		c.Findings = []probe.Finding{}
	}
	if c.TLS != nil && c.TLS.Chain == nil {
		t := *c.TLS
		t.Chain = []probe.Cert{}
		c.TLS = &t
	}
	if c.HTTP != nil && c.HTTP.Redirects == nil {
		h := *c.HTTP
		h.Redirects = []probe.Redirect{}
		c.HTTP = &h
	}
	return c
}
