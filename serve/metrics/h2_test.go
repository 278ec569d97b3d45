package metrics

import (
	"testing"

	"github.com/pathlens/pathlens/probe"
)

func TestH2StallSeconds(t *testing.T) {
	e := New()
	const tg, md = "https://upload.example/", "web"
	run := func(stalls ...probe.H2Stall) *probe.Result {
		return &probe.Result{Kind: "https", Success: true, H2: &probe.H2Info{Stalls: stalls}}
	}
	help := "# HELP pathlens_h2_stall_seconds_total Seconds HTTP/2 senders waited on a closed flow-control window (stalls over 100 ms), by direction: send (the probe waited on the server), recv (the server waited on the probe); a direction appears with its first stall.\n# TYPE pathlens_h2_stall_seconds_total counter\n"

	e.Observe(tg, md, run()) // h2 without stalls: no series yet
	e.Observe("http://h1.example/", "web", &probe.Result{Kind: "http", Success: true})
	expect(t, e, "", NameH2StallSeconds)
	e.Observe(tg, md, run(probe.H2Stall{Dir: "send", Stream: 1, DurationMS: 0})) // a zero stall: still none
	expect(t, e, "", NameH2StallSeconds)

	e.Observe(tg, md, run(probe.H2Stall{Dir: "send", Stream: 1, DurationMS: 250}, probe.H2Stall{Dir: "send", Stream: 1, DurationMS: 750},
		probe.H2Stall{Dir: "recv", Stream: 0, DurationMS: 125, Ongoing: true}))
	e.Observe(tg, md, run(probe.H2Stall{Dir: "send", Stream: 1, DurationMS: 500}))
	expect(t, e, help+`pathlens_h2_stall_seconds_total{direction="recv",module="web",target="https://upload.example/"} 0.125
pathlens_h2_stall_seconds_total{direction="send",module="web",target="https://upload.example/"} 1.5
`, NameH2StallSeconds)

	e.Forget(tg)
	expect(t, e, "", NameH2StallSeconds)
}
