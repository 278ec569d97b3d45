package metrics

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// The remote write series (docs/serve.md#remote-write).
const (
	NameRemoteWriteSamples = "pathlens_remote_write_samples_total"
	NameRemoteWriteFailed  = "pathlens_remote_write_failed_samples_total"
	NameRemoteWriteDropped = "pathlens_remote_write_dropped_samples_total"
)

// RemoteWriteStats is what the remote writer has sent, given up on and
// dropped, in samples, over every receiver.
type RemoteWriteStats struct{ Samples, Failed, Dropped uint64 }

type remoteWriteStats struct {
	f atomic.Pointer[func() RemoteWriteStats]
}

func (r *remoteWriteStats) get() RemoteWriteStats {
	if f := r.f.Load(); f != nil {
		return (*f)()
	}
	return RemoteWriteStats{}
}

func (r *remoteWriteStats) register(reg prometheus.Registerer) {
	counter := func(name, help string, v func(RemoteWriteStats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(v(r.get())) })
	}
	reg.MustRegister(
		counter(NameRemoteWriteSamples, "Samples remote write receivers accepted.", func(s RemoteWriteStats) uint64 { return s.Samples }),
		counter(NameRemoteWriteFailed, "Samples of remote write requests given up on after their retries.", func(s RemoteWriteStats) uint64 { return s.Failed }),
		counter(NameRemoteWriteDropped, "Samples a full remote write queue dropped (the oldest first).", func(s RemoteWriteStats) uint64 { return s.Dropped }),
	)
}

// SetRemoteWriteStats makes the remote write series report f(); until
// then (or with nil) they are 0.
func (e *Exporter) SetRemoteWriteStats(f func() RemoteWriteStats) {
	if f == nil {
		e.rw.f.Store(nil)
		return
	}
	e.rw.f.Store(&f)
}
