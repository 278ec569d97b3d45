package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
)

// ErrorClass classifies a failed probe (CONTRACT §2).
type ErrorClass string

// Error classes, fixed by the contract.
const (
	ClassDNS      ErrorClass = "dns"
	ClassConnect  ErrorClass = "connect"
	ClassTLS      ErrorClass = "tls"
	ClassHTTP     ErrorClass = "http"
	ClassProtocol ErrorClass = "protocol"
	ClassTimeout  ErrorClass = "timeout"
	ClassCanceled ErrorClass = "canceled"
	ClassConfig   ErrorClass = "config"
)

// PhaseError is the typed failure every prober returns: the phase that
// failed, its class, a short machine-readable cause and the wrapped error.
// Diagnosis reads it with errors.As, never from the message text.
type PhaseError struct {
	Phase string
	Class ErrorClass
	Cause string
	Err   error
}

func (e *PhaseError) Error() string {
	if e.Phase == "" {
		return fmt.Sprintf("%s: %v", e.Class, e.Err)
	}
	return fmt.Sprintf("%s (%s): %v", e.Phase, e.Class, e.Err)
}

func (e *PhaseError) Unwrap() error { return e.Err }

// Errorf builds a PhaseError with a formatted message.
func Errorf(phase string, class ErrorClass, cause string, format string, args ...any) *PhaseError {
	return &PhaseError{Phase: phase, Class: class, Cause: cause, Err: fmt.Errorf(format, args...)}
}

// Classify turns any error met in phase into a PhaseError. A context that
// ran out of time wins over the underlying error (a read that failed
// because the deadline passed is a timeout, not a protocol error).
func Classify(ctx context.Context, phase string, class ErrorClass, err error) *PhaseError {
	if err == nil {
		return nil
	}
	var pe *PhaseError
	if errors.As(err, &pe) {
		return pe
	}
	if ctx != nil && ctx.Err() != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
			return &PhaseError{Phase: phase, Class: ClassTimeout, Cause: "deadline", Err: err}
		}
		return &PhaseError{Phase: phase, Class: ClassCanceled, Cause: "canceled", Err: err}
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return &PhaseError{Phase: phase, Class: ClassTimeout, Cause: "deadline", Err: err}
	}
	cause := ""
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		cause = "refused"
	case errors.Is(err, syscall.ECONNRESET):
		cause = "reset"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		cause = "unreachable"
	}
	if IsTLSAlert(err) {
		cause = "alert"
	}
	var re tls.RecordHeaderError
	if errors.As(err, &re) {
		cause = "not_tls"
	}
	var oe *net.OpError
	if cause == "" && errors.As(err, &oe) && oe.Timeout() {
		return &PhaseError{Phase: phase, Class: ClassTimeout, Cause: "deadline", Err: err}
	}
	return &PhaseError{Phase: phase, Class: class, Cause: cause, Err: err}
}

// IsTLSAlert reports whether err is a TLS alert from the peer. Over TCP,
// crypto/tls reports a received alert as a *net.OpError with Op "remote
// error" (tls.AlertError wraps alerts only on QUIC).
func IsTLSAlert(err error) bool {
	var ae tls.AlertError
	if errors.As(err, &ae) {
		return true
	}
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "remote error"
}

// Summary describes a failed probe's error in one line for people:
// "tls failed: …", "timed out in wait: …", "http error in wait: …".
func (e *ErrorInfo) Summary() string {
	if e == nil {
		return ""
	}
	var msg string
	switch {
	case e.Class == ClassTimeout && e.Phase != "":
		msg = "timed out in " + e.Phase
	case e.Phase == "" || string(e.Class) == e.Phase:
		msg = string(e.Class) + " failed"
	default:
		msg = string(e.Class) + " error in " + e.Phase
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}
