package erp

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkCallOverhead measures what the client adds to one call: a Customers page from
// an in-process server that answers a small canned page at once (the queue, the request,
// the cookie, reading and decoding the answer, plus loopback HTTP).
func BenchmarkCallOverhead(b *testing.B) {
	f := newFakeERP()
	body := []byte(`{"page":1,"pageSize":2,"totalPages":3,"totalRows":6,"rows":[` +
		`{"id":"C1","name":"Rossi Srl","vatNumber":"IT01","email":"a@b.it","city":"Napoli"},` +
		`{"id":"C2","name":"Bianchi","vatNumber":"IT02","email":"c@d.it","city":"Roma"}]}`)
	f.handlers["GET /erp/customers"] = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}
	srv := httptest.NewServer(f)
	defer srv.Close()
	for _, tc := range []struct {
		name   string
		client *http.Client
	}{
		{"loopback", srv.Client()},
		{"in-memory", &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if r.URL.Path == loginPath {
				return jsonResponse(200, `{}`, "Set-Cookie", cookieName+"=x"), nil
			}
			return jsonResponse(200, string(body)), nil
		})}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			s, err := NewSession(Config{BaseURL: srv.URL, Username: f.user, Password: f.password, HTTPClient: tc.client})
			if err != nil {
				b.Fatal(err)
			}
			ctx := b.Context()
			if err := s.Login(ctx); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				p, err := s.Customers(ctx, 1)
				if err != nil || len(p.Rows) != 2 {
					b.Fatal(fmt.Sprint(p, err))
				}
			}
		})
	}
}
