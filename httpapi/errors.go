package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"archibald"
)

// Codes this package adds to the archibald codes. They never leave the HTTP edge.
const (
	EBADREQUEST       = "bad_request"        // malformed JSON, unknown field, bad query parameter (400)
	EMETHODNOTALLOWED = "method_not_allowed" // the path exists, the method does not (405)
)

// statusOf maps an error code to an HTTP status, as wtf's http package does.
func statusOf(code string) int {
	switch code {
	case EBADREQUEST:
		return http.StatusBadRequest
	case archibald.EINVALID:
		return http.StatusUnprocessableEntity
	case archibald.ENOTFOUND:
		return http.StatusNotFound
	case archibald.ECONFLICT:
		return http.StatusConflict
	case archibald.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case archibald.ETOOLARGE:
		return http.StatusRequestEntityTooLarge
	case archibald.EUNSUPPORTED:
		return http.StatusUnsupportedMediaType
	case archibald.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	case EMETHODNOTALLOWED:
		return http.StatusMethodNotAllowed
	}
	return http.StatusInternalServerError
}

// badRequest is a 400 about one input (a field, a query parameter or the body).
func badRequest(field, format string, args ...any) *archibald.Error {
	e := archibald.Errorf(EBADREQUEST, format, args...)
	e.Field = field
	return e
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// errorDetailOf turns err into what a client may see: the code, message and field of an
// *archibald.Error, and for anything else "internal" with a generic message.
func errorDetailOf(err error) errorDetail {
	var ae *archibald.Error
	if errors.As(err, &ae) {
		return errorDetail{Code: ae.Code, Message: ae.Message, Field: ae.Field}
	}
	return errorDetail{Code: archibald.EINTERNAL, Message: "internal error"}
}

// writeError writes err as {"error":{…}}; internal errors are logged with their details,
// which never reach the client.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	d := errorDetailOf(err)
	status := statusOf(d.Code)
	if status == http.StatusInternalServerError {
		d.Message = "internal error"
		s.log.LogAttrs(r.Context(), slog.LevelError, "request failed",
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Any("err", err))
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="archibald"`)
	}
	writeJSON(w, status, errorBody{Error: d})
}

// writeJSON writes v with the status. An encoding failure cannot be reported any more
// (the status is sent), so it is ignored; every value written here encodes.
func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// ctxError explains a wait that ended with the request's context.
func ctxError(err error, what string) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return archibald.Errorf(archibald.EUNAVAILABLE, "%s: the request ended first", what)
	}
	return err
}

var errShuttingDown = archibald.Errorf(archibald.EUNAVAILABLE, "the server is shutting down")

func errNoStaticFile(name string) error {
	return archibald.Errorf(archibald.ENOTFOUND, "no file %q", truncate(name, 64))
}
