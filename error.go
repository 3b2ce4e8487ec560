package archibald

import (
	"errors"
	"fmt"
)

// Error codes. They are stable strings that the HTTP edge maps to statuses and that
// clients may match on; the message beside them is safe to show to a person.
const (
	ECONFLICT     = "conflict"         // the request conflicts with the current state
	EINTERNAL     = "internal"         // a fault of ours; the message says nothing more
	EINVALID      = "invalid"          // the input is wrong; Field names what
	ENOTFOUND     = "not_found"        // the thing asked for does not exist
	EUNAVAILABLE  = "unavailable"      // a dependency (the ERP, the store) cannot be reached
	EUNAUTHORIZED = "unauthorized"     // missing or wrong credentials
	ETOOLARGE     = "too_large"        // the request body is over the limit
	EUNSUPPORTED  = "unsupported_type" // the request has a content type we do not read
)

// Error is an application error: a code, a message a person can act on, and optionally
// the input field it is about.
type Error struct {
	Code    string
	Message string
	Field   string
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("archibald: %s: %s: %s", e.Code, e.Field, e.Message)
	}
	return fmt.Sprintf("archibald: %s: %s", e.Code, e.Message)
}

// Errorf returns an *Error with the code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldErrorf returns an EINVALID *Error about one input field.
func FieldErrorf(field, format string, args ...any) *Error {
	return &Error{Code: EINVALID, Field: field, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for any other
// non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the message of the first *Error in err's chain; for any other
// error it returns a generic message, so internal details never reach a client.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}
