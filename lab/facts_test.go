package lab

import (
	"strings"
	"testing"

	"github.com/pathlens/pathlens/probe"
)

// Check runs a scenario's own facts, the hostile bounds, and turns a
// missing block into an error rather than a panic.
func TestScenarioCheck(t *testing.T) {
	for _, tc := range []struct {
		s    Scenario
		r    *probe.Result
		want string // "" means no error
	}{
		{Scenario{Name: "ok-http"}, &probe.Result{Success: true}, ""},
		{Scenario{Name: "not-a-scenario"}, &probe.Result{}, ""},
		{Scenario{Name: "dns-slow"}, &probe.Result{}, "no dns phase"},
		{Scenario{Name: "tcp-refused"}, &probe.Result{Success: true}, "want failure"},
		{Scenario{Name: "ok-https"}, &probe.Result{}, "the result lacks what its check reads"},
		{Scenario{Name: "hostile-trickle", Hostile: true}, &probe.Result{TotalMS: 3000, TimeoutMS: 2000}, "hostile probe took 3000 ms"},
		{Scenario{Name: "hostile-trickle", Hostile: true}, &probe.Result{TimeoutMS: 2000}, "hostile failure not classified"},
	} {
		err := tc.s.Check(tc.r)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: err = %v, want %q", tc.s.Name, err, tc.want)
		}
	}
}
