package httpapi

import (
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"archibald/orders"
)

// TestOrderSchemaMatchesRequest keeps the decoder's schema equal to the JSON of
// orders.Request, so a field added there is not refused here as unknown.
func TestOrderSchemaMatchesRequest(t *testing.T) {
	want := map[string]bool{}
	var walk func(prefix string, typ reflect.Type)
	walk = func(prefix string, typ reflect.Type) {
		for f := range typ.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" || !f.IsExported() {
				continue
			}
			path := join(prefix, foldKey(name))
			want[path] = true
			if f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct {
				want[path+"[]"] = true
				walk(path+"[]", f.Type.Elem())
			}
		}
	}
	walk("", reflect.TypeFor[orders.Request]())
	got := slices.Sorted(maps.Keys(orderSchema))
	if !slices.Equal(got, slices.Sorted(maps.Keys(want))) {
		t.Fatalf("schema paths %v, orders.Request has %v", got, slices.Sorted(maps.Keys(want)))
	}
}
