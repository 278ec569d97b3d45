package serve

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pathlens/pathlens/serve/web/webtest"
)

// The quick start's main command, `serve --demo`, seen through a real
// browser: within the first interval every lab scenario has been probed,
// and the overview and a broken target's page say what is wrong.
func TestDemoInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the demo and waits for a full probe interval")
	}
	webtest.SkipWithoutChromium(t)
	addrCh := make(chan string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Demo: true, Listen: "127.0.0.1:0", Stdout: io.Discard,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Ready: func(a string) { addrCh <- a }, Grace: 2 * time.Second})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("demo shutdown: %v", err)
		}
	}()
	var base string
	select {
	case a := <-addrCh:
		base = "http://" + a
	case err := <-done:
		t.Fatalf("demo did not start: %v", err)
	}

	// Wait until every target has a result (first runs are spread over
	// the 15 s interval).
	var targets []struct {
		Name  string          `json:"name"`
		State string          `json:"state"`
		Last  json.RawMessage `json:"last"`
	}
	deadline := time.Now().Add(40 * time.Second)
	for {
		resp, err := http.Get(base + "/api/v1/targets")
		if err != nil {
			t.Fatal(err)
		}
		targets = targets[:0]
		err = json.NewDecoder(resp.Body).Decode(&targets)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		// A state needs several runs to agree (a failing target is
		// pending after its first run, down after its second).
		pending := 0
		states := map[string]string{}
		for _, tg := range targets {
			if tg.State == "pending" {
				pending++
			}
			states[tg.Name] = tg.State
		}
		var wrong []string
		for name, want := range map[string]string{"ok-h2": "up", "tls-incomplete-chain": "down", "tls-expiring": "degraded", "tcp-refused": "down"} {
			if states[name] != want {
				wrong = append(wrong, fmt.Sprintf("%s is %q, want %q", name, states[name], want))
			}
		}
		if len(targets) >= 20 && pending == 0 && len(wrong) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 40 s %d of %d demo targets are pending; %v", pending, len(targets), wrong)
		}
		time.Sleep(250 * time.Millisecond)
	}

	overview := webtest.VisibleText(webtest.Chromium(t, base+"/", webtest.ArtifactPath(t, "demo-overview.png")))
	for _, want := range []string{"ok-h2", "tls-incomplete-chain", "TLS_CHAIN_INCOMPLETE", "TCP_REFUSED", "DNS_SLOW", "HTTP_SERVER_SLOW", "TLS_CERT_EXPIRING", "degraded"} {
		if !strings.Contains(overview, want) {
			t.Errorf("overview lacks %q", want)
		}
	}
	page := webtest.VisibleText(webtest.Chromium(t, base+"/targets/tls-incomplete-chain", webtest.ArtifactPath(t, "demo-target-tls-incomplete-chain.png")))
	for _, want := range []string{"TLS_CHAIN_INCOMPLETE", "the intermediate", "Serve the full chain", "pathlens lab intermediate", "Last runs"} {
		if !strings.Contains(page, want) {
			t.Errorf("target page lacks %q", want)
		}
	}
}
