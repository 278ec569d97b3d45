package assert_test

import (
	"context"
	"fmt"

	"github.com/pathlens/pathlens/assert"
	"github.com/pathlens/pathlens/probe"
)

// Compile once, at load; check every probe's Result. engine.Check does
// the checking when the set is in probe.Options.Assertions.
func Example() {
	status, err := assert.Compile(`r.http.status == 200`, probe.SeverityCritical)
	if err != nil {
		fmt.Println(err)
		return
	}
	wait := assert.MustCompile(`phase("wait") < duration("200ms")`, probe.SeverityWarning)
	set := assert.NewSet(status, wait)

	r := &probe.Result{
		Success: true,
		Phases:  []probe.Phase{{Name: probe.PhaseWait, DurationMS: 350}},
		HTTP:    &probe.HTTPInfo{Status: 200},
	}
	for _, f := range set.Check(context.Background(), r) {
		fmt.Println(f.Severity, f.ID)
		fmt.Println(f.Summary)
		fmt.Println(f.Evidence["values"])
	}

	_, err = assert.Compile(`r.http.status = 200`, "")
	fmt.Println(err)
	// Output:
	// warning ASSERTION_FAILED
	// assertion phase("wait") < duration("200ms") is false (phase("wait") = "350ms")
	// map[phase("wait"):350ms]
	// column 15: Syntax error: token recognition error at: '= '; column 17: Syntax error: extraneous input '200' expecting <EOF>
}
