package wsx

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/coder/websocket"

	"github.com/pathlens/pathlens/probe"
)

// hold runs the session from the upgrade to the close. It stays one
// function: the wait/hold loop, the close handshake, the close record and
// the error share the end reason, the guard and read errors and the
// close time, and the order of the close steps (close, wait for the
// reader, then the pings) is the session's shutdown protocol, easier to
// check read top to bottom.
func (s *session) hold(stopAt time.Time, grace time.Duration, deadline time.Time) error {
	rec, wo := s.rec, s.wo
	holdEnd := s.upEnd.Add(wo.Hold)
	if holdEnd.After(stopAt) {
		holdEnd = stopAt
		s.info.HoldCut = wo.Hold > 0
	}
	waiting := wo.Send != ""
	var sendErr error
	if waiting {
		rec.Begin(probe.PhaseWait)
		sendErr = s.send(stopAt)
	} else {
		rec.Begin(probe.PhaseHold)
	}

	holdTimer := time.NewTimer(time.Until(holdEnd))
	defer holdTimer.Stop()
	stopTimer := time.NewTimer(time.Until(stopAt))
	defer stopTimer.Stop()
	var tick <-chan time.Time
	if wo.PingInterval > 0 {
		tk := time.NewTicker(wo.PingInterval)
		defer tk.Stop()
		tick = tk.C
	}
	firstIn := s.firstIn
	var end endReason
loop:
	for {
		var holdC <-chan time.Time
		if !waiting {
			holdC = holdTimer.C
		}
		select {
		case <-firstIn:
			firstIn = nil
			if waiting {
				rec.BeginAt(probe.PhaseHold, s.firstAt())
				waiting = false
			}
		case <-holdC:
			end = endHold
			break loop
		case <-stopTimer.C:
			end = endBudget
			if !waiting {
				end = endHold // the budget cut the hold short (HoldCut)
			}
			break loop
		case <-s.readerDone:
			end = endPeer
			break loop
		case <-tick:
			s.ping()
		case <-s.ctx.Done():
			end = endCanceled
			break loop
		}
	}
	if waiting && s.gotFirst() {
		rec.BeginAt(probe.PhaseHold, s.firstAt())
		waiting = false
	}
	phase := probe.PhaseHold
	if waiting {
		phase = probe.PhaseWait
	}

	// Close. Every step below is bounded by the connection's deadline.
	closeStart := rec.Now()
	_ = s.conn.SetDeadline(minTime(closeStart.Add(grace), deadline))
	ourCode := websocket.StatusNormalClosure
	guardErr := s.guard.stopped()
	switch {
	case end == endPeer && errors.Is(guardErr, websocket.ErrMessageTooBig):
		// The guard stopped the stream at a header: nothing was sent yet,
		// and the close handshake cannot read past that header.
		_ = s.c.Close(websocket.StatusMessageTooBig, "message too big")
	case end == endPeer && errors.Is(guardErr, errInvalidLength):
		_ = s.c.Close(websocket.StatusProtocolError, "invalid frame length")
	case end == endPeer:
		// The library already answered a close frame; a dropped
		// connection or a read-limit close just needs releasing.
		_ = s.c.CloseNow()
	default:
		if end == endCanceled {
			ourCode = websocket.StatusGoingAway
		}
		s.closingUs.Store(true)
		_ = s.c.Close(ourCode, "")
	}
	<-s.readerDone
	s.readCancel()
	s.pingWG.Wait()
	rec.End(phase)

	s.mu.Lock()
	readErr, readAt, byUs := s.readErr, s.readErrAt, s.readByUs
	s.mu.Unlock()
	cl := &probe.WSClose{}
	closeAt := closeStart
	code := websocket.CloseStatus(readErr)
	var ce websocket.CloseError
	errors.As(readErr, &ce)
	switch {
	case end == endPeer && errors.Is(guardErr, errInvalidLength):
		cl = &probe.WSClose{By: probe.WSClosedByClient, Code: int(websocket.StatusProtocolError), Reason: "invalid frame length",
			Error: guardErr.Error()}
		closeAt = readAt
	case end == endPeer && errors.Is(readErr, websocket.ErrMessageTooBig):
		s.info.ReadLimited = true
		cl = &probe.WSClose{By: probe.WSClosedByClient, Code: int(websocket.StatusMessageTooBig), Reason: "message too big"}
		closeAt = readAt
	case end == endPeer && !byUs && code != -1:
		cl = &probe.WSClose{By: probe.WSClosedByServer, Code: int(code), Reason: truncate(s.scrub(ce.Reason), 125), FrameReceived: true}
		closeAt = readAt
	case end == endPeer && !byUs:
		cause := readErr
		if sendErr != nil {
			cause = sendErr
		}
		cl = &probe.WSClose{By: probe.WSClosedByServer, Code: int(websocket.StatusAbnormalClosure), Error: s.scrub(shortErr(cause))}
		closeAt = readAt
	default:
		cl = &probe.WSClose{By: probe.WSClosedByClient, Code: int(ourCode), FrameReceived: code != -1}
		if code == -1 {
			cl.Error = "no close frame came back within " + grace.String()
		}
	}
	cl.AtMS = rec.Since(closeAt)
	s.info.Close = cl
	s.info.CloseCode = cl.Code
	s.info.SessionMS = probe.MS(closeAt.Sub(s.upEnd))
	s.finishPings(closeAt)

	switch {
	case end == endCanceled:
		return probe.Classify(s.ctx, phase, probe.ClassProtocol, s.ctx.Err())
	case end == endBudget:
		return &probe.PhaseError{Phase: probe.PhaseWait, Class: probe.ClassTimeout, Cause: probe.CauseDeadline,
			Err: fmt.Errorf("no message came back before the budget ran out (%s after sending %d bytes)",
				fmtDur(closeAt.Sub(s.upEnd)), len(wo.Send))}
	case end == endPeer && errors.Is(guardErr, errInvalidLength):
		return probe.Errorf(phase, probe.ClassProtocol, probe.CauseInvalidFrame,
			"%s into the session, the server sent a frame with an %v; pathlens closed with 1002 (protocol error)",
			fmtDur(closeAt.Sub(s.upEnd)), guardErr)
	case end == endPeer && errors.Is(readErr, probe.ErrReadCap):
		return probe.Errorf(phase, probe.ClassProtocol, probe.CauseReadCap, "%v", probe.ErrReadCap)
	case end == endPeer && cl.By == probe.WSClosedByServer && !cl.FrameReceived:
		return probe.Errorf(phase, probe.ClassProtocol, probe.CauseAbnormalClose,
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
