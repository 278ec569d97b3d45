package wsx

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/coder/websocket"

	"github.com/pathlens/pathlens/probe"
)

// sessionEnd is how the session ended: what the wait/hold loop and the
// close handshake leave for the close record and the probe's error.
type sessionEnd struct {
	reason  endReason
	phase   string // the phase the session ended in: wait or hold
	sendErr error  // the --send write's error

	closeStart time.Time
	ourCode    websocket.StatusCode // the code of a close we started
	guardErr   error                // why the frame guard stopped the stream

	readErr error     // how the reader ended
	readAt  time.Time // when it ended
	byUs    bool      // it ended on a close we started
}

// hold runs the session from the upgrade to the close: the wait (after
// --send) and the hold, the close handshake, then the close record and
// the probe's error.
func (s *session) hold(stopAt time.Time, grace time.Duration, deadline time.Time) error {
	wo := s.wo
	holdEnd := s.upEnd.Add(wo.Hold)
	if holdEnd.After(stopAt) {
		holdEnd = stopAt
		s.info.HoldCut = wo.Hold > 0
	}
	end := &sessionEnd{}
	waiting := wo.Send != ""
	if waiting {
		s.rec.Begin(probe.PhaseWait)
		end.sendErr = s.send(stopAt)
	} else {
		s.rec.Begin(probe.PhaseHold)
	}
	end.reason, waiting = s.await(holdEnd, stopAt, waiting)
	if waiting && s.gotFirst() {
		s.rec.BeginAt(probe.PhaseHold, s.firstAt())
		waiting = false
	}
	end.phase = probe.PhaseHold
	if waiting {
		end.phase = probe.PhaseWait
	}

	s.closeSession(end, grace, deadline)
	cl, closeAt := s.closeRecord(end, grace)
	cl.AtMS = s.rec.Since(closeAt)
	s.info.Close = cl
	s.info.CloseCode = cl.Code
	s.info.SessionMS = probe.MS(closeAt.Sub(s.upEnd))
	s.finishPings(closeAt)
	return s.endError(end, cl, closeAt)
}

// await waits for the first message (while waiting) and holds the
// session, pinging on every tick, until the hold ends, the budget runs
// out, the reader ends or the probe is cancelled. It returns why, and
// whether the session is still waiting for its first message.
func (s *session) await(holdEnd, stopAt time.Time, waiting bool) (endReason, bool) {
	holdTimer := time.NewTimer(time.Until(holdEnd))
	defer holdTimer.Stop()
	stopTimer := time.NewTimer(time.Until(stopAt))
	defer stopTimer.Stop()
	var tick <-chan time.Time
	if s.wo.PingInterval > 0 {
		tk := time.NewTicker(s.wo.PingInterval)
		defer tk.Stop()
		tick = tk.C
	}
	firstIn := s.firstIn
	for {
		var holdC <-chan time.Time
		if !waiting {
			holdC = holdTimer.C
		}
		select {
		case <-firstIn:
			firstIn = nil
			if waiting {
				s.rec.BeginAt(probe.PhaseHold, s.firstAt())
				waiting = false
			}
		case <-holdC:
			return endHold, waiting
		case <-stopTimer.C:
			if !waiting {
				return endHold, waiting // the budget cut the hold short (HoldCut)
			}
			return endBudget, waiting
		case <-s.readerDone:
			return endPeer, waiting
		case <-tick:
			s.ping()
		case <-s.ctx.Done():
			return endCanceled, waiting
		}
	}
}

// closeSession closes the connection the way the session ended, then
// waits for the reader and the pings and ends the phase; in that order,
// which is the session's shutdown protocol. Every step is bounded by the
// connection's deadline. It fills end's close and read fields.
func (s *session) closeSession(end *sessionEnd, grace time.Duration, deadline time.Time) {
	end.closeStart = s.rec.Now()
	_ = s.conn.SetDeadline(minTime(end.closeStart.Add(grace), deadline))
	end.ourCode = websocket.StatusNormalClosure
	end.guardErr = s.guard.stopped()
	peer := end.reason == endPeer
	switch {
	case peer && errors.Is(end.guardErr, websocket.ErrMessageTooBig):
		// The guard stopped the stream at a header: nothing was sent yet,
		// and the close handshake cannot read past that header.
		_ = s.c.Close(websocket.StatusMessageTooBig, "message too big")
	case peer && errors.Is(end.guardErr, errInvalidLength):
		_ = s.c.Close(websocket.StatusProtocolError, "invalid frame length")
	case peer:
		// The library already answered a close frame; a dropped
		// connection or a read-limit close just needs releasing.
		_ = s.c.CloseNow()
	default:
		if end.reason == endCanceled {
			end.ourCode = websocket.StatusGoingAway
		}
		s.closingUs.Store(true)
		_ = s.c.Close(end.ourCode, "")
	}
	<-s.readerDone
	s.readCancel()
	s.pingWG.Wait()
	s.rec.End(end.phase)

	s.mu.Lock()
	end.readErr, end.readAt, end.byUs = s.readErr, s.readErrAt, s.readByUs
	s.mu.Unlock()
}

// closeRecord says who closed the session, with which code and why, and
// when the session ended: when the reader ended for a close the server
// or the guard caused, else when our close began.
func (s *session) closeRecord(end *sessionEnd, grace time.Duration) (*probe.WSClose, time.Time) {
	readErr := end.readErr
	code := websocket.CloseStatus(readErr)
	var ce websocket.CloseError
	errors.As(readErr, &ce)
	peer := end.reason == endPeer
	switch {
	case peer && errors.Is(end.guardErr, errInvalidLength):
		return &probe.WSClose{By: probe.WSClosedByClient, Code: int(websocket.StatusProtocolError), Reason: "invalid frame length",
			Error: end.guardErr.Error()}, end.readAt
	case peer && errors.Is(readErr, websocket.ErrMessageTooBig):
		s.info.ReadLimited = true
		return &probe.WSClose{By: probe.WSClosedByClient, Code: int(websocket.StatusMessageTooBig), Reason: "message too big"}, end.readAt
	case peer && !end.byUs && code != -1:
		return &probe.WSClose{By: probe.WSClosedByServer, Code: int(code), Reason: truncate(s.scrub(ce.Reason), 125), FrameReceived: true}, end.readAt
	case peer && !end.byUs:
		cause := readErr
		if end.sendErr != nil {
			cause = end.sendErr
		}
		return &probe.WSClose{By: probe.WSClosedByServer, Code: int(websocket.StatusAbnormalClosure), Error: s.scrub(shortErr(cause))}, end.readAt
	}
	cl := &probe.WSClose{By: probe.WSClosedByClient, Code: int(end.ourCode), FrameReceived: code != -1}
	if code == -1 {
		cl.Error = "no close frame came back within " + grace.String()
	}
	return cl, end.closeStart
}

// endError is the probe's error for the way the session ended, nil for a
// clean end.
func (s *session) endError(end *sessionEnd, cl *probe.WSClose, closeAt time.Time) error {
	peer := end.reason == endPeer
	switch {
	case end.reason == endCanceled:
		return probe.Classify(s.ctx, end.phase, probe.ClassProtocol, s.ctx.Err())
	case end.reason == endBudget:
		return &probe.PhaseError{Phase: probe.PhaseWait, Class: probe.ClassTimeout, Cause: probe.CauseDeadline,
			Err: fmt.Errorf("no message came back before the budget ran out (%s after sending %d bytes)",
				fmtDur(closeAt.Sub(s.upEnd)), len(s.wo.Send))}
	case peer && errors.Is(end.guardErr, errInvalidLength):
		return probe.Errorf(end.phase, probe.ClassProtocol, probe.CauseInvalidFrame,
			"%s into the session, the server sent a frame with an %v; pathlens closed with 1002 (protocol error)",
			fmtDur(closeAt.Sub(s.upEnd)), end.guardErr)
	case peer && errors.Is(end.readErr, probe.ErrReadCap):
		return probe.Errorf(end.phase, probe.ClassProtocol, probe.CauseReadCap, "%v", probe.ErrReadCap)
	case peer && cl.By == probe.WSClosedByServer && !cl.FrameReceived:
		return probe.Errorf(end.phase, probe.ClassProtocol, probe.CauseAbnormalClose,
			"the server dropped the connection without a close frame %s into the session (%s)", fmtDur(closeAt.Sub(s.upEnd)), cl.Error)
	}
	return nil
}

// send writes the --send message (the start of the wait phase).
func (s *session) send(stopAt time.Time) error {
	wctx, cancel := context.WithDeadline(s.readCtx, stopAt)
	defer cancel()
	at := s.rec.Now()
	err := s.c.Write(wctx, websocket.MessageText, []byte(s.wo.Send))
	if err == nil {
		s.message(at, "out", websocket.MessageText, int64(len(s.wo.Send)))
	}
	return err
}
