package probe_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/pathlens/pathlens/probe"
)

// ParseTarget's errors never show a password, whether or not url.Parse
// accepts the string, and whatever the kind.
func TestParseTargetNeverShowsPassword(t *testing.T) {
	const pw = "S3CRETPASS"
	for _, tc := range []struct {
		in, want string // want: the whole message
	}{
		{"https://admin:" + pw + "@h:99x/", `target "https://admin:xxxxx@h:99x/": invalid port ":99x" after host`},
		{"https://admin:" + pw + "@h:99999/", `target "https://xxxxx@h:99999/": credentials in the URL are not supported; use -H 'Authorization: …'`},
		{"https://admin:" + pw + "@bad host/", `target "https://admin:xxxxx@bad host/": invalid character " " in host name`},
		{"https://admin:" + pw + "%zz@h/", `target "https://admin:xxxxx@h/": credentials in the URL are not supported; use -H 'Authorization: …'`},
		{"https://admin:" + pw + "@h/%zz", `target "https://admin:xxxxx@h/%zz": invalid URL escape "%zz"`},
		{"https://admin:" + pw + "\x7f@h/", `target "https://admin:xxxxx@h/": credentials in the URL are not supported; use -H 'Authorization: …'`},
		{"https://admin:" + pw + "@h/\x00", `target "https://admin:xxxxx@h/\x00": net/url: invalid control character in URL`},
		{"https://admin:" + pw + " x@h/", `target "https://admin:xxxxx@h/": credentials in the URL are not supported; use -H 'Authorization: …'`},
		// A password holding '/' makes url.Parse take its start for a port.
		{"https://admin:SEC/" + pw + "@h/", `target "https://admin:xxxxx@h/": credentials in the URL are not supported; use -H 'Authorization: …'`},
		{"https://admin:" + pw[:3] + "/" + pw[3:] + "@h:1x/", `target "https://admin:xxxxx@h:1x/": invalid port ":1x" after host`},
		{"dns://user:" + pw + "@127.0.0.1:53/example.com", `target "dns://xxxxx@127.0.0.1:53/example.com": credentials in the URL are not supported; use -H 'Authorization: …'`},
		{"dns://user:" + pw + "@127.0.0.1:5x3/example.com", `target "dns://user:xxxxx@127.0.0.1:5x3/example.com": invalid port ":5x3" after host`},
		{"tcp://user:" + pw + "@db:5432", `target "tcp://xxxxx@db:5432": credentials in the URL are not supported; use -H 'Authorization: …'`},
		// A user name alone can be a token: none of the user-info is shown.
		{"https://" + pw + "@h/", `target "https://xxxxx@h/": credentials in the URL are not supported; use -H 'Authorization: …'`},
		{"wss://" + pw + "@h/socket", `target "wss://xxxxx@h/socket": credentials in the URL are not supported; use -H 'Authorization: …'`},
		{"admin:" + pw + "@h/x", `target "admin:xxxxx@h/x": no scheme; write it as a URL such as https://admin:xxxxx@h/x`},
	} {
		_, err := probe.ParseTarget(tc.in)
		if err == nil {
			t.Errorf("ParseTarget(%q) accepted", tc.in)
			continue
		}
		if all := err.Error(); strings.Contains(all, pw) || strings.Contains(all, pw[3:]) {
			t.Errorf("ParseTarget(%q) error shows the password: %s", tc.in, all)
		}
		var pe *probe.PhaseError
		if !errors.As(err, &pe) {
			t.Fatalf("ParseTarget(%q) error %T, want a *probe.PhaseError", tc.in, err)
		}
		if got := pe.Err.Error(); got != tc.want {
			t.Errorf("ParseTarget(%q) error\n got: %s\nwant: %s", tc.in, got, tc.want)
		}
	}
}

func TestRedactUserInfo(t *testing.T) {
	for in, want := range map[string]string{
		"https://h/":                "https://h/",
		"https://u@h/":              "https://u@h/",
		"https://u:p@h/":            "https://u:xxxxx@h/",
		"https://:p@h/":             "https://:xxxxx@h/",
		"https://u:p:q@h:1/x?y#z":   "https://u:xxxxx@h:1/x?y#z",
		"https://u:p/q?r#s@t@h/":    "https://u:xxxxx@h/",
		"u:p@h":                     "u:xxxxx@h",
		"https://h/path/@me":        "https://h/path/@me",
		"":                          "",
		"https://u:p%zz\x00@h:99x/": "https://u:xxxxx@h:99x/",
	} {
		if got := probe.RedactUserInfo(in); got != want {
			t.Errorf("RedactUserInfo(%q) = %q, want %q", in, got, want)
		}
	}
}
