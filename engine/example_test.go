package engine_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/pathlens/pathlens/engine"
	"github.com/pathlens/pathlens/probe"
)

// Probe an HTTP endpoint once and read the phases and findings, as
// `pathlens check` does.
func ExampleCheck() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
	}))
	defer srv.Close()

	target, err := probe.ParseTarget(srv.URL + "/health")
	if err != nil {
		panic(err)
	}
	r := engine.Check(context.Background(), target, &probe.Options{})
	fmt.Println("success:", r.Success, "status:", r.HTTP.Status)
	for _, p := range r.Phases {
		fmt.Println("phase:", p.Name)
	}
	for _, f := range r.Findings {
		fmt.Println(f.Severity, f.ID)
	}
	// Output:
	// success: false status: 503
	// phase: connect
	// phase: request
	// phase: wait
	// phase: transfer
	// critical HTTP_STATUS
}
