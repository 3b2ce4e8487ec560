package erpsim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"testing/synctest"
)

func TestRoundTripperStreamsAndCleansUp(t *testing.T) {
	s := newServer(t, Config{Customers: 30, Products: 30})
	rt := s.RoundTripper()
	req, _ := http.NewRequest("POST", "http://x/erp/login", strings.NewReader(`{"username":"agent","password":"secret"}`))
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" || len(resp.Cookies()) != 1 || resp.Cookies()[0].Name != "ERPSESSION" {
		t.Fatalf("login answer %d %v %s", resp.StatusCode, resp.Header, body)
	}
	if resp.ContentLength != int64(len(body)) {
		t.Errorf("content length %d for %d bytes", resp.ContentLength, len(body))
	}
	cookie := resp.Cookies()[0]

	// A body read in small pieces, and one closed before it is read, both end the handler.
	for _, readAll := range []bool{true, false} {
		req, _ := http.NewRequest("GET", "http://x/erp/customers?page=1", nil)
		req.AddCookie(cookie)
		resp, err := rt.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		if readAll {
			var buf bytes.Buffer
			p := make([]byte, 7)
			for {
				n, err := resp.Body.Read(p)
				buf.Write(p[:n])
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			var pg page[map[string]any]
			if err := json.Unmarshal(buf.Bytes(), &pg); err != nil || len(pg.Rows) != 20 {
				t.Errorf("page read in pieces: %v, %d rows", err, len(pg.Rows))
			}
		}
		resp.Body.Close()
		if _, err := resp.Body.Read(make([]byte, 1)); err == nil {
			t.Error("read after Close succeeded")
		}
	}
	s.Close()
	req, _ = http.NewRequest("GET", "http://x/erp/customers?page=1", nil)
	if _, err := rt.RoundTrip(req); err == nil {
		t.Error("round trip after Close succeeded")
	}
}

// A request still queued when its client leaves is served all the same: it holds the
// session and moves the view, as on a real server.
func TestQueuedRequestWhoseClientLeftIsStillServed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newServer(t, Config{Customers: 30, Products: 30, PageTime: pageTime, StepTime: pageTime})
		c := newClient(t, s)
		c.login("agent", "secret")
		var d struct{ Draft string }
		c.do("POST", "/erp/orders/new", nil).decode(t, &d)

		first := make(chan answer, 1)
		go func() { first <- c.do("GET", "/erp/customers?page=1", nil) }()
		synctest.Wait()
		ctx, cancel := context.WithCancel(t.Context())
		second := make(chan error, 1)
		go func() {
			_, err := c.doCtx(ctx, "POST", "/erp/orders/new", nil)
			second <- err
		}()
		synctest.Wait()
		cancel()
		if err := <-second; !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled request: %v", err)
		}
		<-first
		// The abandoned "new order" still ran after the list: it opened draft D000002.
		if a := c.do("POST", "/erp/orders/D000002/customer", map[string]string{"customerId": "C000001"}); a.status != 200 {
			t.Errorf("step on the draft of the abandoned request = %d %s, want 200", a.status, a.body)
		}
	})
}

func FuzzDecodeFaults(f *testing.F) {
	for _, seed := range []string{
		`{"errorRate":0.05,"slowPages":{"products":{"page":3,"delay":"2s"}},"hangPages":{"prices":{"page":5}}}`,
		`{}`, `{"errorRate":1}`, `{"slowPages":{"customers":{"page":1,"delay":"0s"}}}`, `{"hangPages":{"x":{}}}`, `[`, ``,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		got, err := decodeFaults(strings.NewReader(body))
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if err := got.Validate(); err != nil {
			t.Fatalf("decoded faults do not validate: %v", err)
		}
		// What was accepted encodes and decodes to the same faults.
		b, err := json.Marshal(got)
		if err != nil {
			t.Fatal(err)
		}
		again, err := decodeFaults(bytes.NewReader(b))
		if err != nil || !reflect.DeepEqual(again, got) {
			t.Fatalf("round trip of %s: %+v, %v; want %+v", b, again, err, got)
		}
	})
}
