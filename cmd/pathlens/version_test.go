package main

import (
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A release build sets the version with -ldflags -X probe.Version (as
// make build does): `pathlens version` prints it and a probe's
// User-Agent carries it.
func TestLdflagsVersion(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "pathlens")
	const v = "1.2.3-ldflags"
	build := exec.Command("go", "build", "-o", bin,
		"-ldflags", "-X github.com/pathlens/pathlens/probe.Version="+v, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil || string(out) != "pathlens "+v+"\n" {
		t.Fatalf("pathlens version = %q, %v; want %q", out, err, "pathlens "+v+"\n")
	}
	uas := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case uas <- r.Header.Get("User-Agent"):
		default:
		}
	}))
	defer srv.Close()
	check := exec.Command(bin, "check", "--color", "never", srv.URL+"/")
	if out, err := check.CombinedOutput(); err != nil && !strings.Contains(err.Error(), "exit status") {
		t.Fatalf("pathlens check: %v\n%s", err, out)
	}
	select {
	case ua := <-uas:
		if ua != "pathlens/"+v {
			t.Errorf("User-Agent %q, want %q", ua, "pathlens/"+v)
		}
	default:
		t.Fatal("the server saw no request")
	}
}
