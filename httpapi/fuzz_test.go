package httpapi_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"archibald"
	"archibald/httpapi"
	"archibald/orders"
)

// FuzzOrderRequest drives the strict decoder: it never panics; what it accepts is valid
// and survives a round trip through JSON; what it refuses gets an *archibald.Error with
// a code and a message. The seed corpus is in testdata/fuzz/FuzzOrderRequest.
func FuzzOrderRequest(f *testing.F) {
	f.Add([]byte(`{"customerId":"C1","items":[{"articleCode":"A1","quantity":3}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := httpapi.DecodeOrderRequest(bytes.NewReader(body))
		if err != nil {
			var ae *archibald.Error
			if !errors.As(err, &ae) || ae.Code == "" || ae.Message == "" {
				t.Fatalf("error %#v is not an *archibald.Error with a code and a message", err)
			}
			switch ae.Code {
			case httpapi.EBADREQUEST, archibald.EINVALID, archibald.ETOOLARGE:
			default:
				t.Fatalf("unexpected code %q", ae.Code)
			}
			if !reflect.DeepEqual(req, orders.Request{}) {
				t.Fatalf("a refused body returned a request: %+v", req)
			}
			return
		}
		if err := req.Validate(); err != nil {
			t.Fatalf("accepted a request Validate refuses: %v", err)
		}
		enc, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		again, err := httpapi.DecodeOrderRequest(bytes.NewReader(enc))
		if err != nil {
			t.Fatalf("re-encoded request %s refused: %v", enc, err)
		}
		if !reflect.DeepEqual(again, req) {
			t.Fatalf("round trip changed the request:\n%+v\n%+v", req, again)
		}
	})
}

// TestDecodeOrderRequest names the field at fault for each way a body can be wrong.
func TestDecodeOrderRequest(t *testing.T) {
	cases := []struct {
		name, body, code, field string
	}{
		{"valid", `{"customerId":"C1","customerName":"Rossi","reference":"R-1","items":[{"articleCode":"A1","quantity":3,"discountPct":5}]}`, "", ""},
		{"optional nulls", `{"customerId":"C1","customerName":null,"items":[{"articleCode":"A1","quantity":3,"discountPct":null}]}`, "", ""},
		{"empty", ``, httpapi.EBADREQUEST, "body"},
		{"null", `null`, httpapi.EBADREQUEST, "body"},
		{"string", `"order"`, httpapi.EBADREQUEST, "body"},
		{"truncated", `{"customerId":"C1","items":[`, httpapi.EBADREQUEST, "body"},
		{"syntax", `{"customerId" "C1"}`, httpapi.EBADREQUEST, "body"},
		{"trailing object", `{"customerId":"C1","items":[{"articleCode":"A","quantity":1}]}{}`, httpapi.EBADREQUEST, "body"},
		{"trailing garbage", `{"customerId":"C1","items":[{"articleCode":"A","quantity":1}]} x`, httpapi.EBADREQUEST, "body"},
		{"duplicate top", `{"customerId":"C1","customerId":"C2","items":[]}`, httpapi.EBADREQUEST, "customerId"},
		{"duplicate other case", `{"customerId":"C1","CUSTOMERID":"C2","items":[]}`, httpapi.EBADREQUEST, "CUSTOMERID"},
		{"duplicate in item", `{"customerId":"C1","items":[{"articleCode":"A","quantity":1},{"quantity":1,"quantity":2}]}`, httpapi.EBADREQUEST, "items[1].quantity"},
		{"unknown top", `{"customerId":"C1","items":[],"priority":"high"}`, httpapi.EBADREQUEST, "priority"},
		{"unknown in item", `{"customerId":"C1","items":[{"articleCode":"A","quantity":1},{"articleCode":"A","quantity":1,"colour":"red"}]}`, httpapi.EBADREQUEST, "items[1].colour"},
		{"id a number", `{"customerId":7,"items":[]}`, httpapi.EBADREQUEST, "customerId"},
		{"quantity with exponent", `{"customerId":"C1","items":[{"articleCode":"A","quantity":1e2}]}`, httpapi.EBADREQUEST, "items[0].quantity"},
		{"quantity a bool", `{"customerId":"C1","items":[{"articleCode":"A","quantity":true}]}`, httpapi.EBADREQUEST, "items[0].quantity"},
		{"item a string", `{"customerId":"C1","items":["A"]}`, httpapi.EBADREQUEST, "items[0]"},
		{"folded key known", `{"CUSTOMERID":"C1","items":[{"articleCode":"A","quantity":3}]}`, "", ""},
		{"items an object", `{"customerId":"C1","items":{}}`, httpapi.EBADREQUEST, "items"},
		{"quantity a string", `{"customerId":"C1","items":[{"articleCode":"A","quantity":"3"}]}`, httpapi.EBADREQUEST, "items[0].quantity"},
		{"quantity fractional", `{"customerId":"C1","items":[{"articleCode":"A","quantity":1},{"articleCode":"A","quantity":1.5}]}`, httpapi.EBADREQUEST, "items[1].quantity"},
		{"quantity overflow", `{"customerId":"C1","items":[{"articleCode":"A","quantity":1e400}]}`, httpapi.EBADREQUEST, "items[0].quantity"},
		{"discount overflow", `{"customerId":"C1","items":[{"articleCode":"A","quantity":1,"discountPct":1e400}]}`, httpapi.EBADREQUEST, "items[0].discountPct"},
		{"too deep", `{"customerId":"C1","items":[` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `]}`, httpapi.EBADREQUEST, "items[0]"},
		{"too large", `{"customerId":"` + strings.Repeat("x", httpapi.MaxBodyBytes) + `"}`, archibald.ETOOLARGE, ""},
		{"no customer", `{"items":[{"articleCode":"A","quantity":1}]}`, archibald.EINVALID, "customerId"},
		{"no items", `{"customerId":"C1","items":[]}`, archibald.EINVALID, "items"},
		{"zero quantity", `{"customerId":"C1","items":[{"articleCode":"A","quantity":0}]}`, archibald.EINVALID, "items[0].quantity"},
		{"negative discount", `{"customerId":"C1","items":[{"articleCode":"A","quantity":1,"discountPct":-1}]}`, archibald.EINVALID, "items[0].discountPct"},
		{"bad reference", `{"customerId":"C1","reference":"a b","items":[{"articleCode":"A","quantity":1}]}`, archibald.EINVALID, "reference"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := httpapi.DecodeOrderRequest(strings.NewReader(tc.body))
			if tc.code == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if req.CustomerID != "C1" || len(req.Items) != 1 || req.Items[0].Quantity != 3 {
					t.Fatalf("decoded %+v", req)
				}
				return
			}
			var ae *archibald.Error
			if !errors.As(err, &ae) {
				t.Fatalf("error %v, want an *archibald.Error", err)
			}
			if ae.Code != tc.code || ae.Field != tc.field || ae.Message == "" {
				t.Fatalf("error %+v, want code %q field %q", ae, tc.code, tc.field)
			}
		})
	}
}
