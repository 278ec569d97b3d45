// Package tcpx probes tcp:// targets (dns, connect) and tls:// targets
// (dns, connect, tls handshake, certificate chain, resumption).
package tcpx

import (
	"context"

	"github.com/pathlens/pathlens/probe"
)

func init() {
	probe.RegisterKind(probe.Kind{Name: "tcp", Schemes: []string{"tcp"}, Phases: []string{probe.PhaseDNS, probe.PhaseConnect},
		Sections: []string{"dns"}, Prober: probe.ProberFunc(ProbeTCP)})
	probe.RegisterKind(probe.Kind{Name: "tls", Schemes: []string{"tls"}, Phases: []string{probe.PhaseDNS, probe.PhaseConnect, probe.PhaseTLS},
		Sections: []string{"dns", "tls"}, Prober: probe.ProberFunc(ProbeTLS)})
}

// ProbeTCP resolves the target and opens one TCP connection.
func ProbeTCP(ctx context.Context, t probe.Target, o *probe.Options, rec *probe.Recorder, r *probe.Result) error {
	d := &probe.Dialer{Opts: o, Rec: rec, Res: r}
	c, err := d.DialTCP(ctx, t.Host, t.Port)
	if err != nil {
		return err
	}
	rec.MarkDone()
	return c.Close()
}

// ProbeTLS connects and completes a TLS handshake; ALPN offers h2 and
// http/1.1 so the server's preference is visible. After the handshake it
// reads briefly so TLS 1.3 session tickets arrive, then tests resumption
// on a second connection. It reads too when a TLS 1.3 server asked for a
// client certificate: that server's verdict on it comes after the
// client's handshake, and a rejection fails the tls phase.
func ProbeTLS(ctx context.Context, t probe.Target, o *probe.Options, rec *probe.Recorder, r *probe.Result) error {
	d := &probe.Dialer{Opts: o, Rec: rec, Res: r}
	c, err := d.DialTCP(ctx, t.Host, t.Port)
	if err != nil {
		return err
	}
	defer c.Close()
	name := t.Host
	if o.ServerName != "" {
		name = o.ServerName
	}
	cfg := d.TLSConfig(name, []string{"h2", "http/1.1"})
	tc, err := d.Handshake(ctx, c, cfg)
	if err != nil {
		return err
	}
	defer tc.Close()
	rec.MarkDone()
	addr := c.RemoteAddr().String()
	due := d.ResumptionDue(addr)
	if due || d.AwaitsClientAuth() {
		if pe := d.LateAlert(probe.DrainTickets(ctx, tc, probe.TicketWait)); pe != nil {
			return pe
		}
	}
	if due {
		d.CheckResumption(ctx, addr, cfg)
	}
	return nil
}
