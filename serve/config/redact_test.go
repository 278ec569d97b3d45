package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A password in a target URL or an allow pattern never reaches a load
// error (check-config and reload errors print them), even when the URL
// does not parse.
func TestLoadErrorsNeverShowPasswords(t *testing.T) {
	const pw = "S3CRETPASS"
	dir := t.TempDir()
	for _, tc := range []struct{ text, want string }{
		{"targets:\n  - {name: a, url: \"https://admin:" + pw + "@h:99x/\"}\n",
			`:2: targets[0].url: target "https://admin:xxxxx@h:99x/": invalid port ":99x" after host`},
		{"targets:\n  - {name: a, url: \"https://admin:" + pw + "@bad host/\"}\n",
			`:2: targets[0].url: target "https://admin:xxxxx@bad host/": invalid character " " in host name`},
		{"targets:\n  - {name: a, url: \"https://admin:" + pw + "%zz@h/\"}\n",
			`:2: targets[0].url: target "https://admin:xxxxx@h/": credentials in the URL are not supported; use -H 'Authorization: …'`},
		{"targets:\n  - {name: a, url: \"https://admin:" + pw + "\\x01@h/\"}\n",
			`:2: targets[0].url: target "https://admin:xxxxx@h/": credentials in the URL are not supported; use -H 'Authorization: …'`},
		{"targets:\n  - {name: a, url: \"dns://user:" + pw + "@127.0.0.1:53/example.com\"}\n",
			`:2: targets[0].url: target "dns://xxxxx@127.0.0.1:53/example.com": credentials in the URL are not supported; use -H 'Authorization: …'`},
		{"targets:\n  - {name: a, url: \"admin:" + pw + "@h/x\"}\n",
			`:2: targets[0].url: target "admin:xxxxx@h/x": no scheme; write it as a URL such as https://admin:xxxxx@h/x`},
		{"probe_endpoint:\n  allow: [\"https://admin:" + pw + "@h/*\"]\n",
			`:2: probe_endpoint.allow[0]: pattern "https://admin:xxxxx@h/*": the host part must not hold '@', '?', '#' or spaces`},
		{"probe_endpoint:\n  allow: [\"admin:" + pw + "@h/*\"]\n",
			`:2: probe_endpoint.allow[0]: pattern "admin:xxxxx@h/*" has no scheme (write e.g. https://*.example.com/*)`},
	} {
		file := filepath.Join(dir, "c.yaml")
		if err := os.WriteFile(file, []byte(tc.text), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Load(file)
		if err == nil {
			t.Errorf("Load(%q) succeeded", tc.text)
			continue
		}
		if strings.Contains(err.Error(), pw) {
			t.Errorf("Load(%q) error shows the password: %v", tc.text, err)
		}
		if want := file + tc.want; err.Error() != want {
			t.Errorf("Load(%q) error\n got: %v\nwant: %s", tc.text, err, want)
		}
	}
}

func TestDNSServerErrorNeverShowsPassword(t *testing.T) {
	_, err := Parse("c.yaml", []byte("modules: {r: {kind: dns, dns: {server: \"u:S3CRETPASS@10.0.0.53:x\"}}}\n"))
	if want := `c.yaml:1: modules.r.dns.server: "u:xxxxx@10.0.0.53:x": want addr:port`; err == nil || err.Error() != want {
		t.Errorf("err = %v, want %s", err, want)
	}
}
