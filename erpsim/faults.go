package erpsim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// Faults are the failures the simulator injects, to test how clients cope.
type Faults struct {
	// ErrorRate is the fraction of requests (login and session requests, not the admin
	// ones) that fail at once with 503 unavailable, 0 to 1.
	ErrorRate float64 `json:"errorRate"`
	// SlowPages adds a delay to the service time of one page of a list, by list name
	// (customers, products, prices).
	SlowPages map[string]SlowPage `json:"slowPages,omitempty"`
	// HangPages makes one page of a list hang: the request holds its session until its
	// client goes away, the faults are changed or cleared, or the server is closed.
	HangPages map[string]HangPage `json:"hangPages,omitempty"`
}

// SlowPage is a page that takes Delay longer than others. In JSON, Delay is a Go
// duration string such as "2s" or "150ms".
type SlowPage struct {
	Page  int           `json:"page"`
	Delay time.Duration `json:"delay"`
}

// HangPage is a page that never answers by itself.
type HangPage struct {
	Page int `json:"page"`
}

// MarshalJSON writes Delay as a duration string.
func (p SlowPage) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Page  int    `json:"page"`
		Delay string `json:"delay"`
	}{p.Page, p.Delay.String()})
}

// UnmarshalJSON reads Delay as a duration string.
func (p *SlowPage) UnmarshalJSON(b []byte) error {
	var raw struct {
		Page  *int   `json:"page"`
		Delay string `json:"delay"`
	}
	if err := decodeStrict(bytes.NewReader(b), &raw); err != nil {
		return err
	}
	if raw.Page == nil {
		return errors.New("page: required")
	}
	d, err := time.ParseDuration(raw.Delay)
	if err != nil {
		return fmt.Errorf("delay: %q is not a duration such as \"2s\"", raw.Delay)
	}
	*p = SlowPage{Page: *raw.Page, Delay: d}
	return nil
}

// listNames are the lists faults apply to.
var listNames = []string{"customers", "products", "prices"}

// Validate reports the first thing wrong with f, naming its field.
func (f Faults) Validate() error {
	if math.IsNaN(f.ErrorRate) || f.ErrorRate < 0 || f.ErrorRate > 1 {
		return fmt.Errorf("errorRate: must be between 0 and 1, got %v", f.ErrorRate)
	}
	for _, name := range sortedKeys(f.SlowPages) {
		p := f.SlowPages[name]
		if !slices.Contains(listNames, name) {
			return fmt.Errorf("slowPages.%s: unknown list, want one of %s", name, strings.Join(listNames, ", "))
		}
		if p.Page < 1 {
			return fmt.Errorf("slowPages.%s.page: must be 1 or more, got %d", name, p.Page)
		}
		if p.Delay < 0 {
			return fmt.Errorf("slowPages.%s.delay: must not be negative, got %v", name, p.Delay)
		}
	}
	for _, name := range sortedKeys(f.HangPages) {
		if !slices.Contains(listNames, name) {
			return fmt.Errorf("hangPages.%s: unknown list, want one of %s", name, strings.Join(listNames, ", "))
		}
		if p := f.HangPages[name]; p.Page < 1 {
			return fmt.Errorf("hangPages.%s.page: must be 1 or more, got %d", name, p.Page)
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// decodeFaults reads a faults request body; the error names the field at fault.
func decodeFaults(r io.Reader) (Faults, error) {
	var raw struct {
		ErrorRate float64                    `json:"errorRate"`
		SlowPages map[string]json.RawMessage `json:"slowPages"`
		HangPages map[string]json.RawMessage `json:"hangPages"`
	}
	if err := decodeStrict(r, &raw); err != nil {
		if errors.Is(err, io.EOF) {
			return Faults{}, errors.New("empty body: send the faults as JSON, or DELETE to clear them")
		}
		return Faults{}, err
	}
	f := Faults{ErrorRate: raw.ErrorRate}
	for _, name := range sortedKeys(raw.SlowPages) {
		var p SlowPage
		if err := decodeStrict(bytes.NewReader(raw.SlowPages[name]), &p); err != nil {
			return Faults{}, nestErr("slowPages."+name, err)
		}
		if f.SlowPages == nil {
			f.SlowPages = map[string]SlowPage{}
		}
		f.SlowPages[name] = p
	}
	for _, name := range sortedKeys(raw.HangPages) {
		var p HangPage
		if err := decodeStrict(bytes.NewReader(raw.HangPages[name]), &p); err != nil {
			return Faults{}, nestErr("hangPages."+name, err)
		}
		if f.HangPages == nil {
			f.HangPages = map[string]HangPage{}
		}
		f.HangPages[name] = p
	}
	return f, f.Validate()
}

// nestErr puts the path of a nested value in front of an error from decodeStrict.
func nestErr(path string, err error) error {
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("%s: empty", path)
	}
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, "body: "); ok {
		return fmt.Errorf("%s: %s", path, rest)
	}
	return fmt.Errorf("%s.%s", path, msg)
}

// decodeStrict decodes one JSON value, refusing unknown fields and trailing data; its
// errors name the field ("quantity: expected int, got JSON string"). An empty body is
// io.EOF.
func decodeStrict(r io.Reader, v any) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return io.EOF
		}
		return jsonError(err)
	}
	if dec.More() {
		return errors.New("body: more than one JSON value")
	}
	return nil
}

// jsonError turns an encoding/json error into a message that names the field.
func jsonError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			field = "body"
		}
		return fmt.Errorf("%s: expected %s, got JSON %s", field, typeErr.Type, typeErr.Value)
	case errors.As(err, &syntaxErr):
		return fmt.Errorf("body: malformed JSON at offset %d: %v", syntaxErr.Offset, syntaxErr)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return fmt.Errorf("%s: unknown field", strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("body: truncated JSON")
	}
	return err
}
