package config

import "testing"

// A path pattern cannot be escaped with dot segments or encoded slashes,
// however they are written; ordinary dots and escapes still match.
func TestAllowedRefusesDotSegments(t *testing.T) {
	p := ProbeEndpoint{Allow: []string{"http://127.0.0.1:18001/public/*", "http://127.0.0.1:18002"}}
	const base = "http://127.0.0.1:18001"
	for _, tc := range []struct {
		path string
		want bool
	}{
		// bypasses: each would reach /admin on the server
		{"/public/..%2fadmin/secret", false},
		{"/public/..%2Fadmin/secret", false},
		{"/public/%2e%2e/admin/secret", false},
		{"/public/%2E%2E/admin", false},
		{"/public/%2e%2E/admin", false},
		{"/public/.%2e/admin", false},
		{"/public/%2e./admin", false},
		{"/public/../admin/secret", false},
		{"/public/./../admin", false},
		{"/public/x/../../admin", false},
		{"/public/..", false},
		{"/public/.", false},
		{"/public/./x", false},
		{"/public/%2e/x", false},
		{"/public/..;/admin", false},
		{"/public/%2e%2e;x=1/admin", false},
		{"/public/..%5cadmin", false},
		{"/public/..%5Cadmin", false},
		{"/public/..\\admin", false},
		{"/public/a%2fb", false},
		{"/public/%252e%252e%2fadmin", false},
		// legitimate paths
		{"/public/a.b", true},
		{"/public/..a", true},
		{"/public/a..", true},
		{"/public/...", true},
		{"/public/.well-known", true},
		{"/public/%41", true},
		{"/public/%252e%252e/x", true}, // a literal "%2e%2e" segment, not a dot segment
		{"/public/x", true},
		{"/public/", true},
		{"/public/a?next=../admin", true}, // the query is not a path
		{"/private/x", false},
	} {
		if got := p.Allowed(base + tc.path); got != tc.want {
			t.Errorf("Allowed(%s) = %v, want %v", base+tc.path, got, tc.want)
		}
	}
	// A pattern without a path allows any path: nothing to escape from.
	for _, path := range []string{"/a/../b", "/group%2Fproject", "/"} {
		if !p.Allowed("http://127.0.0.1:18002" + path) {
			t.Errorf("Allowed(http://127.0.0.1:18002%s) = false under a pattern without a path", path)
		}
	}
}

func TestAmbiguousPath(t *testing.T) {
	for path, want := range map[string]bool{
		"/": false, "": false, "/a/b": false, "/a.b/c": false, "/%7euser": false, "/a;b=c": false,
		"/a/./b": true, "/a/../b": true, "/.": true, "/..": true, "/%2E": true, "/a%2f": true, "/a%5C": true,
		"/a\\b": true, "/%zz": true, "/.;": true,
	} {
		if got := ambiguousPath(path); got != want {
			t.Errorf("ambiguousPath(%q) = %v, want %v", path, got, want)
		}
	}
}
