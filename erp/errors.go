package erp

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
)

// Sentinel errors. Callers decide with errors.Is; the *APIError in the chain (errors.As)
// carries the ERP's own message, which is safe to show to a person.
var (
	// ErrViewLost: the order form is no longer the session's view; the ERP discarded the
	// draft, nothing was saved. Starting a new draft is safe.
	ErrViewLost = errors.New("the order form is no longer open (view lost)")
	// ErrInvalidQuantity: the variant does not accept the quantity (minimum, multiple, maximum).
	ErrInvalidQuantity = errors.New("invalid quantity")
	// ErrInvalidDiscount: the discount is out of the range the ERP accepts.
	ErrInvalidDiscount = errors.New("invalid discount")
	// ErrUnknownCustomer: the ERP has no customer with that id.
	ErrUnknownCustomer = errors.New("unknown customer")
	// ErrUnknownVariant: the ERP has no product variant with that id.
	ErrUnknownVariant = errors.New("unknown product variant")
	// ErrIncompleteOrder: the draft cannot be saved yet (no customer or no line).
	ErrIncompleteOrder = errors.New("incomplete order")
	// ErrPageOutOfRange: the list has no such page.
	ErrPageOutOfRange = errors.New("page out of range")
	// ErrSessionExpired: the ERP ended the session and the one new login did not help
	// (the repeated request expired again).
	ErrSessionExpired = errors.New("ERP session expired")
	// ErrInvalidCredentials: the ERP refused the username or password.
	ErrInvalidCredentials = errors.New("invalid ERP credentials")
	// ErrUnavailable: the ERP could not be reached or answered that it is unavailable (503,
	// a gateway error, a transport failure or timeout). Worth retrying for reads.
	ErrUnavailable = errors.New("ERP unavailable")
	// ErrUnknownOutcome: the request may have reached the ERP but its answer was lost or
	// unreadable (transport failure after sending, ctx ended in flight, a 5xx answer, an
	// undecodable answer). For Save it means the order may or may not exist: look it up
	// by reference with FindOrders, never save again blindly.
	ErrUnknownOutcome = errors.New("outcome unknown: the ERP may have carried out the request")
	// ErrWithdrawn: a background request was withdrawn from the queue (or refused at once)
	// because the session's background class is paused. Not a failure of the ERP: the
	// caller redoes the work after the resume.
	ErrWithdrawn = errors.New("background request withdrawn: the ERP session is paused for an order")
)

// The ERP's error codes, as in {"error":"<code>","message":"…"}.
const (
	CodeViewLost           = "view_lost"
	CodeInvalidQuantity    = "invalid_quantity"
	CodeInvalidDiscount    = "invalid_discount"
	CodeUnknownCustomer    = "unknown_customer"
	CodeUnknownVariant     = "unknown_variant"
	CodeIncompleteOrder    = "incomplete_order"
	CodePageOutOfRange     = "page_out_of_range"
	CodeSessionExpired     = "session_expired"
	CodeInvalidCredentials = "invalid_credentials"
	CodeUnavailable        = "unavailable"
)

// sentinelFor maps an ERP error code to its sentinel; nil for codes we do not know.
func sentinelFor(code string) error {
	switch code {
	case CodeViewLost:
		return ErrViewLost
	case CodeInvalidQuantity:
		return ErrInvalidQuantity
	case CodeInvalidDiscount:
		return ErrInvalidDiscount
	case CodeUnknownCustomer:
		return ErrUnknownCustomer
	case CodeUnknownVariant:
		return ErrUnknownVariant
	case CodeIncompleteOrder:
		return ErrIncompleteOrder
	case CodePageOutOfRange:
		return ErrPageOutOfRange
	case CodeSessionExpired:
		return ErrSessionExpired
	case CodeInvalidCredentials:
		return ErrInvalidCredentials
	case CodeUnavailable:
		return ErrUnavailable
	}
	return nil
}

// APIError is an error answer of the ERP: its HTTP status and, when the body was the
// ERP's JSON error, its code and message. Code is empty when the body was not one (a
// proxy's HTML page, say); Message then is the status text.
type APIError struct {
	Status  int
	Code    string
	Message string
}

func (e *APIError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	if e.Code == "" {
		return fmt.Sprintf("HTTP %d: %s", e.Status, msg)
	}
	return fmt.Sprintf("%s (HTTP %d): %s", e.Code, e.Status, msg)
}

// Is matches the sentinel of e's code. Without a known code, a 502, 503 or 504 matches
// ErrUnavailable. Any 5xx matches ErrUnknownOutcome: an ERP that failed may have done
// part of the work, so only a 4xx is a definite refusal.
func (e *APIError) Is(target error) bool {
	if s := sentinelFor(e.Code); s != nil && s == target {
		return true
	}
	switch target {
	case ErrUnavailable:
		if sentinelFor(e.Code) == nil {
			switch e.Status {
			case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
				return true
			}
		}
	case ErrUnknownOutcome:
		return e.Status >= 500
	}
	return false
}

// IsTransient reports whether err is worth retrying for a read: the ERP was unavailable
// or could not be reached. Never retry a Save on it; see ErrUnknownOutcome.
func IsTransient(err error) bool { return errors.Is(err, ErrUnavailable) }

// RequestError is the error of one call: what was asked (method and path, never a
// credential) and why it failed. Unwrap exposes the cause and the sentinels that classify
// it, so errors.Is and errors.As see through it.
type RequestError struct {
	Method string
	Path   string // with the query; the login body is never part of it
	Err    error
	// kinds are sentinels the cause does not carry itself (ErrUnavailable and
	// ErrUnknownOutcome for a transport failure).
	kinds []error
}

func (e *RequestError) Error() string {
	var b strings.Builder
	b.WriteString("erp: ")
	b.WriteString(e.Method)
	b.WriteByte(' ')
	b.WriteString(e.Path)
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	for _, k := range e.kinds {
		if k == ErrUnknownOutcome {
			b.WriteString(" (the ERP may have received the request: outcome unknown)")
		}
	}
	return b.String()
}

func (e *RequestError) Unwrap() []error {
	errs := make([]error, 0, 1+len(e.kinds))
	errs = append(errs, e.Err)
	return append(errs, e.kinds...)
}

// neverSent reports whether a transport error proves the request did not leave this
// process (the connection could not even be opened). Any other failure may have
// happened after the ERP received the request.
func neverSent(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}
