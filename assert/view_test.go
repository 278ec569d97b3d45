package assert_test

import (
	"context"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pathlens/pathlens/assert"
	"github.com/pathlens/pathlens/probe"
)

// r is the Result's JSON shape: the view of a real Result equals its
// --json form decoded again (numbers aside, which the view types as int
// or double by their Go type), once the computed fields are taken out.
func TestViewIsTheJSONShape(t *testing.T) {
	for _, name := range []string{"ok-h2", "ok-dns", "http-redirects", "tls-expiring"} {
		t.Run(name, func(t *testing.T) {
			r := labResult(t, name)
			view := assert.ResultView(r)
			if tl, ok := view["tls"].(map[string]any); ok {
				for _, key := range []string{"chain", "verified_chain"} {
					certs, _ := tl[key].([]any)
					for _, c := range certs {
						m := c.(map[string]any)
						if _, ok := m["days_left"].(float64); !ok {
							t.Errorf("tls.%s: days_left = %#v, want a double", key, m["days_left"])
						}
						delete(m, "days_left")
					}
				}
			}
			if d, ok := view["dns"].(map[string]any); ok && r.DNS != nil && len(r.DNS.Answers) > 0 {
				if recs, _ := d["records"].([]any); len(recs) != len(r.DNS.Answers) {
					t.Errorf("dns.records = %v, want one per answer", d["records"])
				}
				delete(d, "records")
			}
			js, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			var want any
			if err := json.Unmarshal(js, &want); err != nil {
				t.Fatal(err)
			}
			got, _ := json.Marshal(view)
			var back any
			_ = json.Unmarshal(got, &back)
			if !reflect.DeepEqual(back, want) {
				t.Errorf("view differs from the JSON form:\n got %s\nwant %s", got, js)
			}
			if s, ok := view["http"].(map[string]any); ok {
				if _, ok := s["status"].(int64); !ok {
					t.Errorf("http.status is %T, want int64", s["status"])
				}
				if _, ok := view["total_ms"].(float64); !ok {
					t.Errorf("total_ms is %T, want float64", view["total_ms"])
				}
			}
		})
	}
}

// The computed fields: days_left counts from the probe's start, records
// take the answers apart.
func TestComputedFields(t *testing.T) {
	t0 := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	r := &probe.Result{Success: true, StartedAt: t0,
		TLS: &probe.TLSInfo{Chain: []probe.Cert{{NotAfter: t0.Add(36 * time.Hour)}, {NotAfter: t0.Add(-12 * time.Hour)}}},
		DNS: &probe.DNSInfo{Answers: []string{
			"www.example.test.\t300\tIN\tA\t10.0.0.5",
			"example.test.\t60\tIN\tTXT\t\"v=spf1 -all\" \"two words\"",
			"mx.example.test", // the system resolver's bare values
		}}}
	view := assert.ResultView(r)
	chain := view["tls"].(map[string]any)["chain"].([]any)
	if a, b := chain[0].(map[string]any)["days_left"], chain[1].(map[string]any)["days_left"]; a != 1.5 || b != -0.5 {
		t.Errorf("days_left %v and %v, want 1.5 and -0.5", a, b)
	}
	recs := view["dns"].(map[string]any)["records"].([]any)
	want := []any{
		map[string]any{"name": "www.example.test.", "ttl": int64(300), "class": "IN", "type": "A", "data": "10.0.0.5"},
		map[string]any{"name": "example.test.", "ttl": int64(60), "class": "IN", "type": "TXT", "data": `"v=spf1 -all" "two words"`},
		map[string]any{"name": "", "ttl": int64(0), "class": "", "type": "", "data": "mx.example.test"},
	}
	if !reflect.DeepEqual(recs, want) {
		t.Errorf("records %#v\nwant %#v", recs, want)
	}
	for expr, holds := range map[string]bool{
		`r.tls.chain[0].days_left > 1`:                                   true,
		`r.tls.chain.exists(c, c.days_left < 0)`:                         true,
		`r.dns.records.exists(a, a.type == "A" && a.data == "10.0.0.5")`: true,
		`r.dns.records[0].ttl >= 300`:                                    true,
		`r.dns.records.exists(a, a.data.contains("spf1"))`:               true,
	} {
		got, err := assert.MustCompile(expr, "").Eval(context.Background(), r)
		if err != nil || got != holds {
			t.Errorf("%s: %v, %v; want %v", expr, got, err, holds)
		}
	}
}

// The time bound stops a long comprehension.
func TestTimeout(t *testing.T) {
	defer assert.SetTimeout(20 * time.Millisecond)()
	list := "[" + strings.TrimSuffix(strings.Repeat("1, ", 200), ", ") + "]"
	a := assert.MustCompile(list+".all(x, "+list+".all(y, "+list+".all(z, x + y + z > 0)))", "")
	start := time.Now()
	_, err := a.Eval(context.Background(), &probe.Result{Success: true})
	if err == nil || err.Error() != "the evaluation took longer than 20ms" {
		t.Errorf("err = %v, want the time bound", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("stopped after %s", d)
	}
}

// r is a map like any other: keys, size, membership, a missing key.
func TestViewAsMap(t *testing.T) {
	r := labResult(t, "ok-http")
	for expr, want := range map[string]any{
		`"http" in r && !("tls" in r)`:                  true,
		`size(r) == ` + itoa(len(assert.ResultView(r))): true,
		`r.exists(k, k == "conn")`:                      true,
		`has(r.http) && !has(r.tls)`:                    true,
		`r == r`:                                        true,
		`r.kind == "http" && r.schema == "pathlens/v1"`: true,
		`r.findings.size() == 0 && r.error == null`:     true,
	} {
		got, err := assert.MustCompile(expr, "").Eval(context.Background(), r)
		if err != nil || got != want {
			t.Errorf("%s: %v, %v; want %v", expr, got, err, want)
		}
	}
	_, err := assert.MustCompile(`r.nope == 1`, "").Eval(context.Background(), r)
	if err == nil || err.Error() != "no such key: nope" {
		t.Errorf("r.nope: %v, want no such key: nope", err)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
