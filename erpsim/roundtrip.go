package erpsim

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
)

// RoundTripper returns a transport that serves requests by calling ServeHTTP in memory,
// without a network, so tests (including testing/synctest bubbles, where real sockets
// cannot be used) can drive the simulator with an http.Client:
//
//	client := &http.Client{Transport: sim.RoundTripper(), Jar: jar}
//	client.Get("http://erp/erp/customers?page=1")
//
// The handler sees the request's context end when the caller cancels it; the answer's
// body is streamed from the handler, and reading it after the context ended fails. Each
// round trip runs the handler on one goroutine that ends with it; Close waits for them.
// The host of the URL is ignored. In a synctest bubble, make the Server inside the bubble
// too: its channels and timers must belong to it.
func (s *Server) RoundTripper() http.RoundTripper { return memTransport{s} }

type memTransport struct{ s *Server }

var errBodyClosed = errors.New("erpsim: read on closed response body")

func (t memTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	closeReqBody := func() {
		if req.Body != nil {
			_ = req.Body.Close()
		}
	}
	if err := ctx.Err(); err != nil {
		closeReqBody()
		return nil, err
	}
	s := t.s
	s.rtMu.Lock()
	if s.rtClosed {
		s.rtMu.Unlock()
		closeReqBody()
		return nil, errors.New("erpsim: round trip on a closed server")
	}
	s.roundTrips.Add(1)
	s.rtMu.Unlock()

	sreq := req.Clone(ctx)
	sreq.RequestURI = req.URL.RequestURI()
	sreq.RemoteAddr = "erpsim-memory:0"
	sreq.Proto, sreq.ProtoMajor, sreq.ProtoMinor = "HTTP/1.1", 1, 1
	if sreq.Host == "" {
		sreq.Host = req.URL.Host
	}
	if req.Body == nil {
		sreq.Body = http.NoBody
	}
	rw := &memResponse{
		header:     http.Header{},
		headerSent: make(chan struct{}),
		body: &memBody{
			ctx:        ctx,
			chunks:     make(chan []byte, 1),
			readerGone: make(chan struct{}),
			writerDone: make(chan struct{}),
		},
		closed: s.closed,
	}
	go func() {
		defer s.roundTrips.Done()
		defer rw.finish()
		defer closeReqBody()
		s.ServeHTTP(rw, sreq)
	}()

	select {
	case <-rw.headerSent:
	case <-ctx.Done():
		rw.body.Close() // the handler's writes now fail at once
		return nil, ctx.Err()
	}
	length := int64(-1)
	if n, err := strconv.ParseInt(rw.sent.Get("Content-Length"), 10, 64); err == nil {
		length = n
	}
	return &http.Response{
		Status:        strconv.Itoa(rw.status) + " " + http.StatusText(rw.status),
		StatusCode:    rw.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        rw.sent,
		Body:          rw.body,
		ContentLength: length,
		Request:       req,
	}, nil
}

// memResponse is the http.ResponseWriter of an in-memory round trip. Its fields are
// owned by the handler goroutine until headerSent is closed; status and sent are then
// read-only.
type memResponse struct {
	header      http.Header
	wroteHeader bool
	status      int
	sent        http.Header // the header as it was when the status was written
	headerSent  chan struct{}
	body        *memBody
	closed      <-chan struct{} // the server's
}

func (w *memResponse) Header() http.Header { return w.header }

func (w *memResponse) WriteHeader(code int) {
	if w.wroteHeader {
		return
	}
	w.wroteHeader = true
	w.status = code
	w.sent = w.header.Clone()
	close(w.headerSent)
}

func (w *memResponse) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if len(p) == 0 {
		return 0, nil
	}
	chunk := append([]byte(nil), p...)
	b := w.body
	select {
	case b.chunks <- chunk: // room in the buffer: deliver even if the client is leaving
		return len(p), nil
	default:
	}
	select {
	case b.chunks <- chunk:
		return len(p), nil
	case <-b.readerGone:
		return 0, errBodyClosed
	case <-b.ctx.Done():
		return 0, b.ctx.Err()
	case <-w.closed:
		return 0, errUnavailableWrite
	}
}

var errUnavailableWrite = errors.New("erpsim: server closed while the client was not reading")

// Flush does nothing: every Write is already handed to the reader.
func (w *memResponse) Flush() {}

func (w *memResponse) finish() {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	close(w.body.writerDone)
}

// memBody is the reading end of an in-memory response body. buf is owned by the reader.
type memBody struct {
	ctx        context.Context
	chunks     chan []byte   // from the handler; one chunk of buffer
	writerDone chan struct{} // closed when the handler returned
	readerGone chan struct{} // closed by Close
	closeOnce  sync.Once
	buf        []byte
}

func (b *memBody) Read(p []byte) (int, error) {
	if len(b.buf) == 0 {
		select {
		case <-b.readerGone:
			return 0, errBodyClosed
		default:
		}
		select {
		case b.buf = <-b.chunks:
		case <-b.writerDone:
			// Every chunk was sent before writerDone was closed; take the buffered one.
			select {
			case b.buf = <-b.chunks:
			default:
				return 0, io.EOF
			}
		case <-b.readerGone:
			return 0, errBodyClosed
		case <-b.ctx.Done():
			return 0, b.ctx.Err()
		}
	}
	n := copy(p, b.buf)
	b.buf = b.buf[n:]
	return n, nil
}

func (b *memBody) Close() error {
	b.closeOnce.Do(func() { close(b.readerGone) })
	return nil
}
