package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"strings"
	"time"
)

// CookieName is the cookie a browser carries after GET /login?token=….
const CookieName = "pathlens_token"

const cookieMaxAge = 30 * 24 * time.Hour

// needsAuth reports whether path is protected when a token is configured:
// everything but the static assets and the login page; /healthz and
// /metrics unless auth.open_endpoints is on; /probe unless
// probe_endpoint.open is on. /probe is separate because it reaches out on
// the caller's behalf with the modules' settings: opening it is a choice
// of its own, never a side effect of opening the scrape endpoints.
func needsAuth(path string, openEndpoints, openProbe bool) bool {
	switch {
	case strings.HasPrefix(path, "/static/"), path == "/favicon.ico", path == "/login", path == "/logout":
		return false
	case path == "/healthz", path == "/metrics":
		return !openEndpoints
	case path == "/probe":
		return !openProbe
	}
	return true
}

// authorized reports whether r carries the token: as
// "Authorization: Bearer TOKEN", or as the pathlens_token cookie (set by
// /login to a value derived from the token; the token itself is accepted
// too). Comparisons are constant-time.
func authorized(r *http.Request, token string) bool {
	if a := r.Header.Get("Authorization"); a != "" {
		scheme, cred, ok := strings.Cut(a, " ")
		if ok && strings.EqualFold(scheme, "Bearer") && secretEqual(strings.TrimSpace(cred), token) {
			return true
		}
	}
	for _, c := range r.CookiesNamed(CookieName) {
		if secretEqual(c.Value, cookieValue(token)) || secretEqual(c.Value, token) {
			return true
		}
	}
	return false
}

// secretEqual compares two secrets in constant time (hashing first, so
// the time does not depend on their lengths either).
func secretEqual(got, want string) bool {
	a := sha256.Sum256([]byte(got))
	b := sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// cookieValue is what the login cookie holds: an HMAC of a fixed label
// under the token, so the cookie is valid only while the token is, never
// reveals the token and is always a valid cookie value whatever bytes the
// token has.
func cookieValue(token string) string {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("pathlens web session v1"))
	return hex.EncodeToString(m.Sum(nil))
}

// unauthorized answers 401: a short page saying how to log in for
// browsers, one line of text for API clients and scrapers.
func (s *server) unauthorized(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="pathlens"`)
	if !wantsHTML(r.URL.Path) {
		if strings.HasPrefix(r.URL.Path, "/api/") {
			s.apiError(w, http.StatusUnauthorized, "authentication required: send \"Authorization: Bearer <token>\" (the token is in the file named by auth.token_file)")
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte("401 authentication required: send \"Authorization: Bearer <token>\" (the token is in the file named by auth.token_file)\n"))
		return
	}
	s.render(w, r, http.StatusUnauthorized, "login", &loginPage{base: s.base("Log in", ""), Required: true})
}

// handleLogin: GET /login shows the form; GET /login?token=… or a POSTed
// form with the right token sets the cookie and redirects to /; a wrong
// token answers 401.
func (s *server) handleLogin(w http.ResponseWriter, r *http.Request) {
	token := s.cfg().Auth.Token
	if token == "" {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	var given string
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil {
			s.render(w, r, http.StatusBadRequest, "login", &loginPage{base: s.base("Log in", ""), Failed: true})
			return
		}
		given = r.PostForm.Get("token")
	} else {
		given = r.URL.Query().Get("token")
		if !r.URL.Query().Has("token") {
			if authorized(r, token) {
				http.Redirect(w, r, "/", http.StatusSeeOther)
				return
			}
			s.render(w, r, http.StatusOK, "login", &loginPage{base: s.base("Log in", "")})
			return
		}
	}
	if !secretEqual(given, token) {
		s.d.Logf("web: failed login from %s", r.RemoteAddr)
		w.Header().Set("WWW-Authenticate", `Bearer realm="pathlens"`)
		s.render(w, r, http.StatusUnauthorized, "login", &loginPage{base: s.base("Log in", ""), Failed: true})
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name:     CookieName,
		Value:    cookieValue(token),
		Path:     "/",
		MaxAge:   int(cookieMaxAge / time.Second),
		HttpOnly: true,
		Secure:   r.TLS != nil,
		SameSite: http.SameSiteStrictMode,
	})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// handleLogout clears the cookie.
func (s *server) handleLogout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{
		Name: CookieName, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode,
	})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
