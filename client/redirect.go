package client

import (
	"errors"
	"net/http"

	"github.com/pathlens/pathlens/probe"
)

// credentialHeaders are the request headers net/http treats as
// credentials on a redirect. net/http drops them only when the host
// changes to one that is not a subdomain, so it sends them over
// cleartext after an https → http redirect on the same host, and to
// another port; the clients New makes drop them on any change of origin.
var credentialHeaders = []string{"Authorization", "Www-Authenticate", "Cookie", "Cookie2", "Proxy-Authorization", "Proxy-Authenticate"}

// maxRedirects is net/http's default redirect limit.
const maxRedirects = 10

// errTooManyRedirects has the text of net/http's default policy error.
var errTooManyRedirects = errors.New("stopped after 10 redirects")

// checkRedirect is the CheckRedirect of the clients New makes: it strips
// credentialHeaders from req once the chain has left the first request's
// origin, then applies policy (nil: net/http's limit of 10 redirects).
func checkRedirect(policy func(*http.Request, []*http.Request) error) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if leftOrigin(req, via) {
			for _, h := range credentialHeaders {
				req.Header.Del(h)
			}
		}
		if policy != nil {
			return policy(req, via)
		}
		if len(via) >= maxRedirects {
			return errTooManyRedirects
		}
		return nil
	}
}

// leftOrigin reports whether the redirect chain via → req has left the
// origin (scheme, host, port) of its first request at any hop. net/http
// copies the first request's headers onto every hop; once a hop has left
// the origin, credentials stay withheld for the rest of the chain (as
// net/http does once it strips them), even when a later hop comes back:
// the other origin chose where that hop goes.
func leftOrigin(req *http.Request, via []*http.Request) bool {
	if len(via) == 0 {
		return false
	}
	first := via[0].URL
	for _, r := range via[1:] {
		if !probe.SameOrigin(first, r.URL) {
			return true
		}
	}
	return !probe.SameOrigin(first, req.URL)
}
