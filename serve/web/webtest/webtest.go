// Package webtest holds test helpers for the pathlens web UI: rendering a
// page in a real headless Chromium (screenshot and rendered DOM) and
// locating the repository's test-artifacts directory. It is imported only
// by tests.
package webtest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// ChromiumPath is where the Debian chromium package installs the browser.
const ChromiumPath = "/usr/bin/chromium"

// chromiumTimeout bounds one browser run.
const chromiumTimeout = 90 * time.Second

// WindowSize is the browser window used for screenshots ("W,H").
var WindowSize = "1280,2000"

// HaveChromium reports whether the browser is installed.
func HaveChromium() bool {
	fi, err := os.Stat(ChromiumPath)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// SkipWithoutChromium skips the test, saying why, when Chromium is missing.
func SkipWithoutChromium(t testing.TB) {
	t.Helper()
	if !HaveChromium() {
		t.Skipf("headless browser test skipped: %s not found (install it with `apt-get install -y chromium`)", ChromiumPath)
	}
}

// Chromium renders url in headless Chromium, saves a screenshot to png
// (a PNG file; "" = no screenshot; parent directories are created) and
// returns the rendered DOM (the HTML after load). It skips the test when
// Chromium is not installed and fails it when the browser does.
func Chromium(t testing.TB, url, png string) (dom string) {
	t.Helper()
	return ChromiumWith(t, url, png)
}

// DarkMode are extra Chromium flags that make pages see
// prefers-color-scheme: dark.
var DarkMode = []string{"--force-dark-mode", "--blink-settings=preferredColorScheme=0"}

// ChromiumWith is Chromium with extra browser flags (e.g. DarkMode).
func ChromiumWith(t testing.TB, url, png string, extra ...string) (dom string) {
	t.Helper()
	SkipWithoutChromium(t)
	if png != "" {
		if err := os.MkdirAll(filepath.Dir(png), 0o755); err != nil {
			t.Fatalf("webtest: %v", err)
		}
		abs, err := filepath.Abs(png)
		if err != nil {
			t.Fatalf("webtest: %v", err)
		}
		_ = os.Remove(abs)
		runChromium(t, append(slices.Clone(extra), "--screenshot="+abs, url)...)
		fi, err := os.Stat(abs)
		if err != nil || fi.Size() == 0 {
			t.Fatalf("webtest: chromium wrote no screenshot of %s to %s (%v)", url, abs, err)
		}
	}
	return runChromium(t, append(slices.Clone(extra), "--dump-dom", url)...)
}

// runChromium runs one headless browser with its own throw-away profile.
func runChromium(t testing.TB, args ...string) string {
	t.Helper()
	profile, err := os.MkdirTemp("", "pathlens-chromium-")
	if err != nil {
		t.Fatalf("webtest: %v", err)
	}
	// Chromium's helpers may still be closing files; removal is best effort.
	defer os.RemoveAll(profile)
	ctx, cancel := context.WithTimeout(context.Background(), chromiumTimeout)
	defer cancel()
	full := append([]string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio",
		"--user-data-dir=" + profile, "--window-size=" + WindowSize,
	}, args...)
	cmd := exec.CommandContext(ctx, ChromiumPath, full...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = append(os.Environ(), "HOME="+profile)
	setProcessGroup(cmd)
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Run()
	killProcessGroup(cmd)
	if err != nil {
		t.Fatalf("webtest: chromium %s: %v (timeout %s)\nstderr:\n%s", strings.Join(args, " "), err, chromiumTimeout, tail(stderr.String(), 4000))
	}
	return stdout.String()
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// ArtifactPath returns test-artifacts/name at the repository root (the
// directory holding go.mod), creating the directory. The directory is
// git-ignored; CI uploads it.
func ArtifactPath(t testing.TB, name string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("webtest: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("webtest: no go.mod above the working directory")
		}
		dir = parent
	}
	out := filepath.Join(dir, "test-artifacts")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatalf("webtest: %v", err)
	}
	return filepath.Join(out, name)
}

// VisibleText reduces a DOM dump to its text: tags, scripts and styles
// removed, entities decoded for the common cases, whitespace collapsed.
// It is good enough for asserting what a person would read.
func VisibleText(dom string) string {
	var b strings.Builder
	in := false
	lower := strings.ToLower(dom)
	for i := 0; i < len(dom); i++ {
		c := dom[i]
		switch {
		case !in && c == '<':
			for _, skip := range []string{"<script", "<style", "<title"} {
				if strings.HasPrefix(lower[i:], skip) {
					end := strings.Index(lower[i:], "</"+skip[1:])
					if end >= 0 {
						i += end
					}
				}
			}
			in = true
			b.WriteByte(' ')
		case in && c == '>':
			in = false
		case !in:
			b.WriteByte(c)
		}
	}
	text := strings.NewReplacer("&lt;", "<", "&gt;", ">", "&quot;", `"`, "&#39;", "'", "&#34;", `"`, "&nbsp;", " ", "&amp;", "&").Replace(b.String())
	return strings.Join(strings.Fields(text), " ")
}
