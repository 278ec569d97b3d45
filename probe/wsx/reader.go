package wsx

import (
	"io"
	"time"

	"github.com/coder/websocket"

	"github.com/pathlens/pathlens/probe"
)

// readLoop is the session's only reader. It counts every message and
// records how reading ended.
func (s *session) readLoop() {
	defer close(s.readerDone)
	for {
		typ, rd, err := s.c.Reader(s.readCtx)
		at := s.rec.Now()
		if err != nil {
			s.readEnd(err, at)
			return
		}
		n, err := io.Copy(io.Discard, rd)
		s.message(at, "in", typ, n)
		if err != nil {
			s.readEnd(err, s.rec.Now())
			return
		}
	}
}

func (s *session) readEnd(err error, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.readErr, s.readErrAt, s.readByUs = err, at, s.closingUs.Load()
}

// message records one data message.
func (s *session) message(at time.Time, dir string, typ websocket.MessageType, n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	info := s.info
	if dir == "in" {
		info.MessagesIn++
		info.BytesIn += n
		if s.firstInAt.IsZero() {
			s.firstInAt = at
			close(s.firstIn)
		}
	} else {
		info.MessagesOut++
		info.BytesOut += n
	}
	if at.After(s.lastTraffic) {
		s.lastTraffic = at
	}
	if len(info.Messages) >= probe.MaxWSMessagesRecorded {
		info.MessagesUnrecorded++
		return
	}
	t := "text"
	if typ == websocket.MessageBinary {
		t = "binary"
	}
	// The writer records a message after its write returns, so a fast echo
	// can be recorded first: keep the timeline in time order regardless.
	m := probe.WSMessage{AtMS: s.rec.Since(at), Dir: dir, Type: t, Bytes: n}
	i := len(info.Messages)
	info.Messages = append(info.Messages, m)
	for ; i > 0 && info.Messages[i-1].AtMS > m.AtMS; i-- {
		info.Messages[i] = info.Messages[i-1]
	}
	info.Messages[i] = m
}

func (s *session) gotFirst() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.firstInAt.IsZero()
}

func (s *session) firstAt() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.firstInAt
}
