package alert

import (
	"errors"
	"fmt"
)

// FieldError is a config error naming the field it is about, in the
// config file's terms ("alerting.alertmanagers[0].url"), so that the
// config loader can find the field's line and put FILE:LINE in front.
type FieldError struct {
	Field string
	Err   error
}

// Error is "FIELD: MESSAGE".
func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *FieldError) Unwrap() error { return e.Err }

// fieldErrorf builds a *FieldError.
func fieldErrorf(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Err: fmt.Errorf(format, args...)}
}

// prefixed returns err with prefix+"." (or prefix alone for an index
// like "[0]") put in front of the field of every *FieldError it joins.
func prefixed(prefix string, err error) error {
	if err == nil {
		return nil
	}
	var errs []error
	for _, e := range unjoin(err) {
		var fe *FieldError
		if errors.As(e, &fe) {
			sep := "."
			if fe.Field == "" || fe.Field[0] == '[' {
				sep = ""
			}
			errs = append(errs, &FieldError{Field: prefix + sep + fe.Field, Err: fe.Err})
			continue
		}
		errs = append(errs, &FieldError{Field: prefix, Err: e})
	}
	return joinErrors(errs)
}

// unjoin lists the errors err joins (err alone when it joins none).
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// joinErrors is errors.Join, nil for none and the error itself for one.
func joinErrors(errs []error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	return errors.Join(errs...)
}
