// Package client gives Go services an *http.Client whose defaults are
// safe, and shows from inside a service the same waterfall and findings
// that pathlens's probes show from outside.
//
//	c := client.New() // every phase bounded, pool sized, HTTP/2 on
//
// New bounds every phase of a request (dial, TLS handshake, response
// headers, idle connections, and the whole request when its context has
// no deadline), sizes the connection pool for concurrency, keeps HTTP/2 on
// even with a custom TLS config (with ping health checks), loads the
// system root pool once for every client and never lets a redirect carry
// credentials to another origin (WithCheckRedirect). Options add opt-in retries with
// full-jitter backoff (WithRetry), a strict Content-Length check
// (WithStrictContentLength), a probe.Result per request (WithObserver),
// Prometheus metrics (WithMetrics) and OpenTelemetry spans (WithTracing).
//
// Audit inspects any existing *http.Client and reports what is unsafe
// about it as findings with advice (IDs CLIENT_*). GRPCDialOptions gives a
// gRPC client keepalives that default servers accept and the same
// observer.
//
// docs/library.md lists every default with its reason, every option and
// the CLIENT_* findings.
package client
