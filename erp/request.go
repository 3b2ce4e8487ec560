package erp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

const (
	loginPath  = "/erp/login"
	cookieName = "ERPSESSION"
	// maxBody bounds what is read of an answer: a page is tens of kilobytes, so a bigger
	// answer is a fault, not data.
	maxBody = 16 << 20
)

// do sends one request as class cl: it takes the slot, logs in if needed, sends, and on
// session_expired logs in again once and repeats the request once, all without letting
// go of the slot. in is marshalled as the JSON body (nil: no body); a 2xx answer is
// decoded into out (nil: ignored).
func (s *Session) do(ctx context.Context, cl class, method, path string, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return &RequestError{Method: method, Path: path, Err: fmt.Errorf("encoding the request: %w", err)}
		}
	}
	if err := s.slot.acquire(ctx, cl); err != nil {
		return &RequestError{Method: method, Path: path, Err: waitError(err)}
	}
	defer s.slot.release()

	if s.cookie == "" {
		if err := s.login(ctx, false); err != nil {
			return err
		}
	}
	err := s.send(ctx, cl, method, path, body, out)
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Code != CodeSessionExpired {
		return err
	}
	s.log.InfoContext(ctx, "erp session expired; logging in again", "method", method, "path", path)
	s.cookie = ""
	s.loggedIn.Store(false)
	if err := s.login(ctx, true); err != nil {
		return err
	}
	// A second session_expired is returned as is: it matches ErrSessionExpired.
	return s.send(ctx, cl, method, path, body, out)
}

// waitError explains an error of slot.acquire: ErrWithdrawn speaks for itself, a ctx
// error happened while waiting.
func waitError(err error) error {
	if errors.Is(err, ErrWithdrawn) {
		return err
	}
	return fmt.Errorf("waiting for the session: %w", err)
}

// login logs in; the caller holds the slot.
func (s *Session) login(ctx context.Context, relogin bool) error {
	s.logins.Add(1)
	if relogin {
		s.relogins.Add(1)
	}
	body, err := json.Marshal(struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}{s.username, s.password})
	if err != nil {
		return &RequestError{Method: http.MethodPost, Path: loginPath, Err: fmt.Errorf("encoding the login: %w", err)}
	}
	resp, err := s.exchange(ctx, foreground, http.MethodPost, loginPath, body)
	if err != nil {
		return s.redact(err)
	}
	cookie := sessionCookie(resp.header)
	if cookie == "" {
		return &RequestError{Method: http.MethodPost, Path: loginPath, Err: fmt.Errorf("the ERP accepted the login but set no %s cookie", cookieName)}
	}
	s.cookie = cookie
	s.loggedIn.Store(true)
	s.log.InfoContext(ctx, "erp logged in", "username", s.username, "relogin", relogin)
	return nil
}

// redact removes the password from an error's message, should the ERP (or a proxy)
// echo it back: an *APIError's message is shown to people.
func (s *Session) redact(err error) error {
	if s.password == "" || !strings.Contains(err.Error(), s.password) {
		return err
	}
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		apiErr.Message = strings.ReplaceAll(apiErr.Message, s.password, "[REDACTED]")
	}
	if strings.Contains(err.Error(), s.password) {
		// Not in the ERP's message: keep the classification, drop the text.
		return &RequestError{Method: http.MethodPost, Path: loginPath,
			Err: errors.New("login failed; the error text is withheld because it repeats the password"), kinds: classify(err)}
	}
	return err
}

// classify returns the sentinels err matches, so that a rewritten error keeps them.
func classify(err error) []error {
	var kinds []error
	for _, k := range []error{ErrInvalidCredentials, ErrUnavailable, ErrUnknownOutcome} {
		if errors.Is(err, k) {
			kinds = append(kinds, k)
		}
	}
	return kinds
}

// send sends one request with the session cookie and decodes the answer.
func (s *Session) send(ctx context.Context, cl class, method, path string, body []byte, out any) error {
	resp, err := s.exchange(ctx, cl, method, path, body)
	if err != nil {
		return err
	}
	if c := sessionCookie(resp.header); c != "" {
		s.cookie = c // the ERP renewed the session
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(resp.body, out); err != nil {
		return &RequestError{Method: method, Path: path, Err: fmt.Errorf("decoding the answer: %w", err), kinds: []error{ErrUnknownOutcome}}
	}
	return nil
}

type answer struct {
	header http.Header
	body   []byte
}

// exchange performs one HTTP exchange and returns a 2xx answer; any other outcome is an
// error: *APIError for an error answer, a RequestError marked ErrUnavailable (and
// ErrUnknownOutcome unless the request provably never left) for a transport failure, one
// wrapping ctx.Err() when ctx ended. The caller holds the slot.
func (s *Session) exchange(ctx context.Context, cl class, method, path string, body []byte) (answer, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.base+path, rd)
	if err != nil {
		return answer{}, &RequestError{Method: method, Path: path, Err: fmt.Errorf("building the request: %w", err)}
	}
	req.Header["Accept"] = jsonHeader
	if body != nil {
		req.Header["Content-Type"] = jsonHeader
	}
	if s.cookie != "" && path != loginPath {
		req.Header["Cookie"] = []string{cookieName + "=" + s.cookie}
	}

	start := time.Now()
	s.requests.Add(1)
	s.sentAt.Store(start.UnixNano())
	resp, err := s.client.Do(req)
	if err != nil {
		s.recordOutcome(ctx, 0, err)
		return answer{}, s.transportError(ctx, method, path, start, err)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	resp.Body.Close()
	s.recordOutcome(ctx, resp.StatusCode, err)
	if err != nil {
		return answer{}, s.transportError(ctx, method, path, start, err)
	}
	if s.log.Enabled(ctx, slog.LevelDebug) {
		s.log.LogAttrs(ctx, slog.LevelDebug, "erp request",
			slog.String("method", method), slog.String("path", path), slog.String("class", cl.String()),
			slog.Int("status", resp.StatusCode), slog.Duration("took", time.Since(start)))
	}
	if len(data) > maxBody {
		return answer{}, &RequestError{Method: method, Path: path,
			Err: fmt.Errorf("the answer (HTTP %d) is larger than %d bytes", resp.StatusCode, maxBody), kinds: []error{ErrUnknownOutcome}}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return answer{}, &RequestError{Method: method, Path: path, Err: decodeError(resp.StatusCode, data)}
	}
	return answer{header: resp.Header, body: data}, nil
}

var jsonHeader = []string{"application/json"}

func (s *Session) transportError(ctx context.Context, method, path string, start time.Time, err error) error {
	// url.Error repeats method and URL, which RequestError already says.
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	e := &RequestError{Method: method, Path: path, Err: err}
	if ctxErr := ctx.Err(); ctxErr != nil {
		// The caller gave up; that is not the ERP being unavailable.
		if !errors.Is(err, ctxErr) {
			e.Err = fmt.Errorf("%w (%v)", ctxErr, err)
		}
		if !neverSent(err) {
			e.kinds = []error{ErrUnknownOutcome}
		}
	} else {
		e.kinds = []error{ErrUnavailable}
		if !neverSent(err) {
			e.kinds = append(e.kinds, ErrUnknownOutcome)
		}
	}
	s.log.DebugContext(ctx, "erp request failed", "method", method, "path", path,
		"took", time.Since(start), "err", e.Err.Error())
	return e
}

// decodeError turns an error answer into an *APIError: the ERP's code and message when
// the body is its JSON error, the status text otherwise.
func decodeError(status int, body []byte) *APIError {
	var eb struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &eb) == nil && eb.Error != "" {
		return &APIError{Status: status, Code: eb.Error, Message: eb.Message}
	}
	return &APIError{Status: status, Message: http.StatusText(status)}
}

// sessionCookie returns the ERPSESSION value a response sets, or "". It parses only when
// a Set-Cookie header is present, so ordinary answers cost nothing.
func sessionCookie(h http.Header) string {
	if len(h["Set-Cookie"]) == 0 {
		return ""
	}
	for _, c := range (&http.Response{Header: h}).Cookies() {
		if c.Name == cookieName && c.Value != "" && c.MaxAge >= 0 {
			return c.Value
		}
	}
	return ""
}
