package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"unicode"

	"archibald"
	"archibald/orders"
)

// MaxBodyBytes is the largest request body read (DESIGN §7).
const MaxBodyBytes = 1 << 20

// maxJSONDepth bounds the nesting walked when checking a body; the order request is
// three levels deep, so anything far deeper is refused before it costs anything.
const maxJSONDepth = 16

// DecodeOrderRequest reads one order request strictly: exactly one JSON object, no
// duplicate keys, no unknown fields, no trailing data, whole-number quantities, at most
// MaxBodyBytes, and then req.Validate(). Its errors are *archibald.Error: EBADREQUEST
// (400) for malformed input, ETOOLARGE for an oversized body and EINVALID (422) for a
// well-formed request that Validate refuses; Field names the input at fault.
func DecodeOrderRequest(r io.Reader) (orders.Request, error) {
	var req orders.Request
	if err := decodeStrict(r, &req, orderSchema); err != nil {
		return orders.Request{}, err
	}
	if err := req.Validate(); err != nil {
		return orders.Request{}, err
	}
	return req, nil
}

// kind is the JSON type a schema expects at a path.
type kind int

const (
	kString kind = iota + 1
	kInt         // a number written as a whole number: no fraction, no exponent
	kNumber      // a finite number
	kArray
	kObject
)

var kindNames = map[kind]string{kString: "a string", kInt: "a whole number", kNumber: "a number", kArray: "an array", kObject: "an object"}

// schema gives the kind of each path of a body; paths are folded (see foldKey) and
// array elements are written []. The walk checks it, so errors name the exact input
// (items[2].quantity) and unknown fields are found wherever they are.
type schema map[string]kind

// orderSchema is orders.Request's JSON (TestOrderSchemaMatchesRequest keeps them equal).
var orderSchema = schema{
	"customerid": kString, "customername": kString, "reference": kString, "items": kArray,
	"items[]": kObject, "items[].articlecode": kString, "items[].quantity": kInt, "items[].discountpct": kNumber,
}

// decodeStrict decodes one JSON object from r into v (a pointer to a struct) with the
// checks DecodeOrderRequest lists, apart from validation; sc describes v's JSON.
func decodeStrict(r io.Reader, v any, sc schema) error {
	b, err := io.ReadAll(io.LimitReader(r, MaxBodyBytes+1))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return archibald.Errorf(archibald.ETOOLARGE, "the request body is larger than %d bytes", MaxBodyBytes)
		}
		return badRequest("body", "the request body could not be read")
	}
	if len(b) > MaxBodyBytes {
		return archibald.Errorf(archibald.ETOOLARGE, "the request body is larger than %d bytes", MaxBodyBytes)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return badRequest("body", "the request body is empty; send a JSON object")
	}
	if err := checkJSONShape(b, sc); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	return nil
}

// checkJSONShape walks the tokens of b: it must be one JSON object, with no key twice in
// any object, nested at most maxJSONDepth deep, followed by nothing but space, and with
// each value of the kind sc gives for its path (null is taken for any kind, as
// encoding/json takes it: the field keeps its zero value).
func checkJSONShape(b []byte, sc schema) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return syntaxError(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return badRequest("body", "the request body must be a JSON object")
	}
	// One frame per open object or array; objects keep the keys seen so far.
	type frame struct {
		keys   map[string]struct{} // nil for an array
		path   string              // of the object or array, for messages
		spath  string              // the schema's path of it
		last   string              // an object's latest key
		lastF  string              // the same, folded
		n      int                 // an array's elements so far
		expect bool                // an object awaits a key (not a value)
	}
	stack := []frame{{keys: map[string]struct{}{}, expect: true}}
	for len(stack) > 0 {
		tok, err := dec.Token()
		if err != nil {
			return syntaxError(err)
		}
		top := &stack[len(stack)-1]
		if top.keys != nil && top.expect {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:len(stack)-1]
				continue
			}
			key, ok := tok.(string)
			if !ok {
				return badRequest("body", "malformed JSON: expected an object key")
			}
			// encoding/json matches keys to fields case-insensitively, so "customerId" and
			// "CustomerID" would fill the same field: they count as the same key.
			folded := foldKey(key)
			if _, dup := top.keys[folded]; dup {
				return badRequest(join(top.path, key), "the key %q appears twice in the same object", key)
			}
			top.keys[folded] = struct{}{}
			top.last, top.lastF = key, folded
			top.expect = false
			continue
		}
		if d, ok := tok.(json.Delim); ok && d == ']' {
			stack = stack[:len(stack)-1]
			continue
		}
		var path, spath string
		if top.keys != nil {
			top.expect = true // this token is the value of the key just read
			path, spath = join(top.path, top.last), join(top.spath, top.lastF)
		} else {
			path, spath = fmt.Sprintf("%s[%d]", top.path, top.n), top.spath+"[]"
			top.n++
		}
		if sc != nil && tok != nil {
			want, known := sc[spath]
			switch {
			case !known && top.keys != nil:
				return badRequest(path, "unknown field %q", top.last)
			case !known:
				return badRequest(top.path, "must hold no arrays")
			case !hasKind(tok, want):
				return badRequest(path, "must be %s; got %s", kindNames[want], describeToken(tok))
			}
		}
		d, ok := tok.(json.Delim)
		if !ok {
			continue
		}
		switch d {
		case '{', '[':
			if len(stack) >= maxJSONDepth {
				return badRequest("body", "the JSON is nested more than %d levels deep", maxJSONDepth)
			}
			f := frame{path: path, spath: spath}
			if d == '{' {
				f.keys, f.expect = map[string]struct{}{}, true
			}
			stack = append(stack, f)
		}
	}
	if _, err := dec.Token(); err != io.EOF {
		return badRequest("body", "unexpected data after the JSON object")
	}
	return nil
}

func hasKind(tok json.Token, k kind) bool {
	switch t := tok.(type) {
	case string:
		return k == kString
	case json.Number:
		switch k {
		case kInt:
			_, err := strconv.ParseInt(string(t), 10, 64)
			return err == nil
		case kNumber:
			f, err := t.Float64()
			return err == nil && !math.IsInf(f, 0)
		}
	case json.Delim:
		return k == kArray && t == '[' || k == kObject && t == '{'
	}
	return false
}

func describeToken(tok json.Token) string {
	switch t := tok.(type) {
	case string:
		return "a string"
	case json.Number:
		return "the number " + truncate(string(t), 32)
	case bool:
		return fmt.Sprintf("%v", t)
	case json.Delim:
		if t == '[' {
			return "an array"
		}
		return "an object"
	}
	return "null"
}

// foldKey folds a key as encoding/json does when it matches a key to a field name
// (simple case folding, where the Kelvin sign is a k and the long s an s).
func foldKey(key string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '\u212A':
			return 'k'
		case '\u017F':
			return 's'
		}
		return unicode.ToLower(r)
	}, key)
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func syntaxError(err error) error {
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		return badRequest("body", "malformed JSON at byte %d: %s", se.Offset, strings.TrimPrefix(se.Error(), "json: "))
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return badRequest("body", "malformed JSON: the body ends in the middle of a value")
	}
	return badRequest("body", "malformed JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
}

// decodeError explains an error of json.Decoder.Decode, naming the field.
func decodeError(err error) error {
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		field := te.Field
		if field == "" {
			field = "body"
		}
		return badRequest(field, "must be %s; got %s", describeType(te.Type.String()), te.Value)
	}
	const unknown = "json: unknown field "
	if msg := err.Error(); strings.HasPrefix(msg, unknown) {
		name := strings.Trim(strings.TrimPrefix(msg, unknown), `"`)
		return badRequest(name, "unknown field %q", name)
	}
	return syntaxError(err)
}

func describeType(t string) string {
	switch {
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "uint"):
		return "a whole number"
	case strings.HasPrefix(t, "float"):
		return "a number"
	case t == "string":
		return "a string"
	case strings.HasPrefix(t, "[]"):
		return "an array"
	}
	return "an object"
}

// checkJSONContentType refuses bodies that are not declared as JSON.
func checkJSONContentType(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		if ct == "" {
			ct = "none"
		}
		return archibald.Errorf(archibald.EUNSUPPORTED, "the Content-Type must be application/json; got %s", ct)
	}
	return nil
}

// readJSON checks the content type and decodes the limited body strictly into v.
func readJSON(w http.ResponseWriter, r *http.Request, v any, sc schema) error {
	if err := checkJSONContentType(r); err != nil {
		return err
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	if err := decodeStrict(r.Body, v, sc); err != nil {
		return err
	}
	return nil
}
