package wsx

import (
	"time"

	"github.com/pathlens/pathlens/probe"
)

// maxOutstandingPings bounds the pings waiting for a pong at once; a tick
// that finds this many waiting sends none.
const maxOutstandingPings = 8

type pingRec struct {
	sent, pong time.Time
}

// ping sends one ping from its own goroutine (Ping blocks until the pong,
// which the reader delivers). The goroutine ends with the pong or the
// close, and the session waits for it.
func (s *session) ping() {
	s.mu.Lock()
	if len(s.pings) >= probe.MaxWSPingsRecorded || s.outstanding >= maxOutstandingPings {
		s.mu.Unlock()
		return
	}
	i := len(s.pings)
	sent := s.rec.Now()
	s.pings = append(s.pings, pingRec{sent: sent})
	s.outstanding++
	if sent.After(s.lastTraffic) {
		s.lastTraffic = sent
	}
	s.mu.Unlock()
	s.pingWG.Add(1)
	go func() {
		defer s.pingWG.Done()
		err := s.c.Ping(s.readCtx)
		now := s.rec.Now()
		s.mu.Lock()
		defer s.mu.Unlock()
		s.outstanding--
		if err == nil {
			s.pings[i].pong = now
			if now.After(s.lastTraffic) {
				s.lastTraffic = now
			}
		}
	}()
}

// finishPings fills the ping list: RTTs, and which pings timed out (no
// pong within the interval, when the session lasted that long).
func (s *session) finishPings(closeAt time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	iv := s.wo.PingInterval
	for _, p := range s.pings {
		wp := probe.WSPing{SentMS: s.rec.Since(p.sent)}
		if !p.pong.IsZero() {
			rtt := p.pong.Sub(p.sent)
			wp.Pong, wp.RTTMS = true, probe.MS(rtt)
			wp.TimedOut = rtt > iv
			s.info.PingRTTMS = append(s.info.PingRTTMS, wp.RTTMS)
		} else {
			wp.TimedOut = closeAt.Sub(p.sent) >= iv
		}
		s.info.Pings = append(s.info.Pings, wp)
	}
	idle := closeAt.Sub(s.lastTraffic)
	s.info.IdleMS = probe.MS(max(idle, 0))
}
