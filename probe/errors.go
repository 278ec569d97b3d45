package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"
)

// ErrorClass classifies a failed probe (docs/result.md).
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
// failed, its class, a short machine-readable cause (one of Causes, or
// none) and the wrapped error. Diagnosis reads it with errors.As, never
// from the message text.
type PhaseError struct {
	Phase string
	Class ErrorClass
	Cause Cause
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
func Errorf(phase string, class ErrorClass, cause Cause, format string, args ...any) *PhaseError {
	return &PhaseError{Phase: phase, Class: class, Cause: cause, Err: fmt.Errorf(format, args...)}
}

// Classify turns any error met in phase into a PhaseError. A context that
// ran out of time wins over the underlying error (a read that failed
// because the deadline passed is a timeout, not a protocol error), and so
// does a timeout met when the context's deadline is at most TimeoutSlack
// away (see BudgetSpent): whichever of the two timers fired first, the
// budget ran out, class timeout, cause deadline.
func Classify(ctx context.Context, phase string, class ErrorClass, err error) *PhaseError {
	if err == nil {
		return nil
	}
	var pe *PhaseError
	if errors.As(err, &pe) {
		return pe
	}
	if ctx != nil && ctx.Err() != nil && !deadlineDone(ctx) {
		return &PhaseError{Phase: phase, Class: ClassCanceled, Cause: CauseCanceled, Err: err}
	}
	if ctx != nil && (ctx.Err() != nil || (isTimeout(err) && BudgetSpent(ctx, TimeoutSlack))) {
		return &PhaseError{Phase: phase, Class: ClassTimeout, Cause: CauseDeadline, Err: err}
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return &PhaseError{Phase: phase, Class: ClassTimeout, Cause: CauseDeadline, Err: err}
	}
	var cause Cause
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		cause = CauseRefused
	case errors.Is(err, syscall.ECONNRESET):
		cause = CauseReset
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		cause = CauseUnreachable
	}
	if IsTLSAlert(err) {
		cause = CauseAlert
	}
	var re tls.RecordHeaderError
	if errors.As(err, &re) {
		cause = CauseNotTLS
	}
	var oe *net.OpError
	if cause == "" && errors.As(err, &oe) && oe.Timeout() {
		return &PhaseError{Phase: phase, Class: ClassTimeout, Cause: CauseDeadline, Err: err}
	}
	return &PhaseError{Phase: phase, Class: class, Cause: cause, Err: err}
}

// TimeoutSlack is how close to the probe's deadline a timer of a phase's
// own may fire and still count as the budget running out. A phase timer
// set to end with the budget (a DNS exchange bounded by the context's
// deadline) and the context's own timer fire in either order; within the
// slack the outcome is the budget's, whichever came first.
const TimeoutSlack = 25 * time.Millisecond

// BudgetSpent reports whether ctx's deadline has passed or is at most
// slack away. A timeout met then is the budget's (class timeout, cause
// deadline), not a failure of the phase's own timer.
func BudgetSpent(ctx context.Context, slack time.Duration) bool {
	if ctx == nil {
		return false
	}
	if ctx.Err() != nil {
		return deadlineDone(ctx)
	}
	dl, ok := ctx.Deadline()
	return ok && time.Until(dl) <= slack
}

// OwnTimeout reports whether err is a timeout of a phase's own timer that
// fired clearly before the budget: err is a timeout (net.Error) and ctx
// is neither done nor within TimeoutSlack of its deadline. Such a timeout
// is the phase's failure (a resolver that gave up: class dns, cause
// timeout); any other timeout is the budget's (Classify).
func OwnTimeout(ctx context.Context, err error) bool {
	return isTimeout(err) && (ctx == nil || (ctx.Err() == nil && !BudgetSpent(ctx, TimeoutSlack)))
}

// deadlineDone reports whether ctx is done because its deadline passed.
func deadlineDone(ctx context.Context) bool {
	return errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(context.Cause(ctx), context.DeadlineExceeded)
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
