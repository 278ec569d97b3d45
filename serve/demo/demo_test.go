package demo

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"maps"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pathlens/pathlens/lab"
	"github.com/pathlens/pathlens/probe"
	"github.com/pathlens/pathlens/serve/config"
)

// writeCA writes a fresh self-signed CA certificate as PEM in dir.
func writeCA(t *testing.T, dir string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "demo test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDemoFakeManifest(t *testing.T) {
	ca := writeCA(t, t.TempDir())
	m := lab.Manifest{
		CAFile:    ca,
		DNSServer: "127.0.0.1:5300",
		Zone:      lab.Zone,
		Scenarios: []lab.Scenario{
			{Name: "ok-http", Target: "http://127.0.0.1:4001/", Args: []string{}},
			{Name: "ok-h2", Target: "https://ok-h2.lab.test:4002/", Args: []string{}},
			{Name: "ok-h2c", Target: "http://127.0.0.1:4003/", Args: []string{"--h2c"}},
			{Name: "ok-tcp", Target: "tcp://127.0.0.1:4004", Args: []string{}},
			{Name: "ok-tls", Target: "tls://ok-tls.lab.test:4005", Args: []string{}},
			{Name: "ok-dns", Target: "dns://127.0.0.1:5300/ok-dns.lab.test?type=A", Args: []string{}},
			{Name: "tls-stall", Target: "https://127.0.0.1:4006/", Args: []string{"--timeout", "2s"}},
			{Name: "slow-one", Target: "http://127.0.0.1:4007/", Args: []string{"--timeout=20s"}},
			{Name: "future-ws", Target: "ws://127.0.0.1:4009/", Args: []string{}},
			{Name: "hostile-trickle", Target: "http://127.0.0.1:4008/", Args: []string{"--timeout", "2s"}, Hostile: true},
		},
	}
	c := MustConfig(m)
	if c.Path != "" || c.Storage.Path != "" || c.Listen != config.DefaultListen || c.Auth.TokenFile != "" {
		t.Errorf("Path %q, Storage %+v, Listen %q, Auth %v", c.Path, c.Storage, c.Listen, c.Auth)
	}
	if !slices.Equal(c.ProbeEndpoint.Allow, Allow) {
		t.Errorf("Allow = %v", c.ProbeEndpoint.Allow)
	}
	if !slices.Equal(c.ProbeEndpoint.Modules, ProbeModules) || !c.ProbeEndpoint.ModuleAllowed("lab") {
		t.Errorf("probe_endpoint.modules = %v", c.ProbeEndpoint.Modules)
	}
	wantMods := []string{"default", "lab", "lab-dns", "lab-h2c", "lab-tcp", "lab-tls", "lab-ws"}
	if got := slices.Sorted(maps.Keys(c.Modules)); !slices.Equal(got, wantMods) {
		t.Errorf("modules = %v, want %v", got, wantMods)
	}
	// Modules of kinds that make TLS connections trust the lab CA; the
	// others have no tls section (their kind would refuse one).
	for name, tls := range map[string]bool{"lab": true, "lab-tls": true, "lab-h2c": true, "lab-tcp": false, "lab-dns": false} {
		mod := c.Modules[name]
		o, err := c.ModuleOptions(name, 0)
		if err != nil || (mod.TLS.CAFile == ca) != tls || mod.DNS.Server != "127.0.0.1:5300" || (o.RootCAs != nil) != tls {
			t.Errorf("module %s = %+v", name, mod)
		}
	}
	if c.Modules["lab-h2c"].HTTP.HTTP2 != "h2c" || c.Modules["lab"].HTTP.HTTP2 != "auto" {
		t.Error("lab-h2c / lab http2 modes")
	}
	want := []struct {
		name, module      string
		interval, timeout time.Duration
	}{
		{"ok-http", "lab", 15 * time.Second, 10 * time.Second},
		{"ok-h2", "lab", 15 * time.Second, 10 * time.Second},
		{"ok-h2c", "lab-h2c", 15 * time.Second, 10 * time.Second},
		{"ok-tcp", "lab-tcp", 15 * time.Second, 10 * time.Second},
		{"ok-tls", "lab-tls", 15 * time.Second, 10 * time.Second},
		{"ok-dns", "lab-dns", 15 * time.Second, 10 * time.Second},
		{"tls-stall", "lab", 15 * time.Second, 2 * time.Second},
		{"slow-one", "lab", 20 * time.Second, 20 * time.Second},
		{"future-ws", "lab-ws", 15 * time.Second, 10 * time.Second},
	}
	if len(c.Targets) != len(want) {
		t.Fatalf("%d targets, want %d (hostile and unavailable kinds left out)", len(c.Targets), len(want))
	}
	for i, w := range want {
		tg := c.Targets[i]
		if tg.Name != w.name || tg.Module != w.module || tg.Interval != w.interval || tg.Timeout != w.timeout ||
			tg.Options.Timeout != w.timeout || (tg.Options.RootCAs != nil) != (w.module != "lab-tcp" && w.module != "lab-dns") ||
			tg.Options.DNSServer != "127.0.0.1:5300" {
			t.Errorf("target %d = %s %s %v %v, want %+v", i, tg.Name, tg.Module, tg.Interval, tg.Timeout, w)
		}
		if tg.URL != m.Scenarios[i].Target {
			t.Errorf("%s: url %q", tg.Name, tg.URL)
		}
	}
	if tg, _ := c.Target("ok-h2c"); !tg.Options.H2C {
		t.Error("ok-h2c without H2C")
	}
	for _, u := range []string{"http://127.0.0.1:4001/", "https://ok-h2.lab.test:4002/", "tcp://127.0.0.1:4004",
		"tls://ok-tls.lab.test:4005", "dns://127.0.0.1:5300/ok-dns.lab.test?type=A"} {
		if !c.ProbeEndpoint.Allowed(u) {
			t.Errorf("demo does not allow %s", u)
		}
	}
	if c.ProbeEndpoint.Allowed("https://example.com/") || c.ProbeEndpoint.Allowed("http://10.0.0.1:80/") {
		t.Error("demo allows the outside world")
	}
}

func TestDemoValidatesLikeAFile(t *testing.T) {
	m := lab.Manifest{CAFile: filepath.Join(t.TempDir(), "missing.pem"), Scenarios: []lab.Scenario{{Name: "a", Target: "http://127.0.0.1:1/"}}}
	_, err := Config(m)
	if err == nil || !strings.HasPrefix(err.Error(), "(demo):") || !strings.Contains(err.Error(), "modules.lab.tls.ca_file: cannot read") {
		t.Fatalf("err = %v", err)
	}
	defer func() {
		if recover() == nil {
			t.Error("MustConfig did not panic on an invalid config")
		}
	}()
	MustConfig(m)
}

func TestDemoUnknownArg(t *testing.T) {
	ca := writeCA(t, t.TempDir())
	_, err := Config(lab.Manifest{CAFile: ca, Scenarios: []lab.Scenario{{Name: "x", Target: "http://127.0.0.1:1/", Args: []string{"--http2"}}}})
	if err == nil || err.Error() != `scenario x: argument "--http2" has no config equivalent` {
		t.Errorf("err = %v", err)
	}
}

func TestDemoRealLab(t *testing.T) {
	defer goleak.VerifyNone(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := lab.Start(ctx, lab.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := l.Manifest()
	c := MustConfig(m)
	if err := l.Close(); err != nil {
		t.Error(err)
	}
	n := 0
	for _, s := range m.Scenarios {
		tg, ok := c.Target(s.Name)
		if s.Hostile {
			if ok {
				t.Errorf("hostile scenario %s is a demo target", s.Name)
			}
			continue
		}
		n++
		if !ok {
			t.Errorf("scenario %s has no demo target", s.Name)
			continue
		}
		k, _ := probe.LookupKind(c.Modules[tg.Module].Kind)
		if tg.URL != s.Target || tg.Interval != Interval || (tg.Options.RootCAs != nil) != k.Accepts("tls") || tg.Options.DNSServer != m.DNSServer {
			t.Errorf("%s: %+v", s.Name, tg)
		}
	}
	if len(c.Targets) != n || n == 0 {
		t.Errorf("%d targets for %d non-hostile scenarios", len(c.Targets), n)
	}
	stall, ok := c.Target("tls-stall")
	if !ok || stall.Timeout != 2*time.Second || stall.Options.Timeout != 2*time.Second || stall.Interval != 15*time.Second {
		t.Errorf("tls-stall = %+v", stall)
	}
	if h2c, ok := c.Target("ok-h2c"); !ok || h2c.Module != "lab-h2c" || !h2c.Options.H2C {
		t.Errorf("ok-h2c = %+v", h2c)
	}
	if tcp, ok := c.Target("ok-tcp"); !ok || tcp.Module != "lab-tcp" || !c.ProbeEndpoint.Allowed(tcp.URL) {
		t.Errorf("ok-tcp = %+v", tcp)
	}
	if d, ok := c.Target("ok-dns"); !ok || d.Module != "lab-dns" || !c.ProbeEndpoint.Allowed(d.URL) {
		t.Errorf("ok-dns = %+v", d)
	}
}

// The demo turns a gRPC scenario's flags into a module of its own.
func TestDemoGRPC(t *testing.T) {
	ca := writeCA(t, t.TempDir())
	c, err := Config(lab.Manifest{CAFile: ca, DNSServer: "127.0.0.1:5300", Scenarios: []lab.Scenario{
		{Name: "grpc-health-ok", Target: "grpcs://grpc-health-ok.lab.test:4010"},
		{Name: "grpc-slow-stream", Target: "grpc://127.0.0.1:4011",
			Args: []string{"--grpc-method", "/pathlens.lab.Stream/Messages", "--expect-messages", "10", "--timeout", "5s"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	h, ok := c.Target("grpc-health-ok")
	if !ok || h.Module != "lab-grpc" || h.Options.RootCAs == nil || h.Options.GRPCMethod != "" || !c.ProbeEndpoint.Allowed(h.URL) {
		t.Errorf("grpc-health-ok = %+v", h)
	}
	s, ok := c.Target("grpc-slow-stream")
	if !ok || s.Module != "lab-grpc-slow-stream" || s.Options.GRPCMethod != "/pathlens.lab.Stream/Messages" ||
		s.Options.ExpectMessages != 10 || s.Timeout.String() != "5s" || !c.ProbeEndpoint.Allowed(s.URL) {
		t.Errorf("grpc-slow-stream = %+v (options %+v)", s, s.Options)
	}
}

// The demo turns the lab's WebSocket scenarios (and their flags) into
// modules: ws-jwt gets the lab's secret file, its ttl and hold.
func TestDemoWS(t *testing.T) {
	defer goleak.VerifyNone(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	names := []string{"ws-echo", "ws-jwt", "ws-reject", "ws-drop", "ws-no-pong", "ws-idle"}
	l, err := lab.Start(ctx, lab.Options{Dir: t.TempDir(), Only: names})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c := MustConfig(l.Manifest())
	for _, n := range names {
		tg, ok := c.Target(n)
		if !ok {
			t.Errorf("no demo target for %s", n)
			continue
		}
		if !c.ProbeEndpoint.Allowed(tg.URL) {
			t.Errorf("%s: /probe refuses %s", n, tg.URL)
		}
	}
	jwt, _ := c.Target("ws-jwt")
	w := jwt.Options.WS
	if jwt.Module != "lab-ws-jwt" || w == nil || w.Token == nil || w.Token.Kind() != "jwt-hs256" || w.Hold != 6*time.Second ||
		c.Modules["lab-ws-jwt"].WS.JWT.TTL != 3*time.Second || jwt.Options.Timeout != Interval {
		t.Errorf("ws-jwt: module %s, options %+v, budget %v", jwt.Module, w, jwt.Options.Timeout)
	}
	if r, _ := c.Target("ws-reject"); r.Module != "lab-ws" || r.Options.WS != nil {
		t.Errorf("ws-reject: %s %+v", r.Module, r.Options.WS)
	}
	if e, _ := c.Target("ws-echo"); e.Options.WS == nil || e.Options.WS.Send != "hello" || e.Options.WS.PingInterval != 200*time.Millisecond {
		t.Errorf("ws-echo: %+v", e.Options.WS)
	}
}
