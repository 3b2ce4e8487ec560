package archibald

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestChooseVariant(t *testing.T) {
	single := Product{ID: "V1", ArticleCode: "H1.314.016", MinQty: 1, MultipleQty: 1, MaxQty: 100}
	box5 := Product{ID: "V5", ArticleCode: "H1.314.016", MinQty: 5, MultipleQty: 5, MaxQty: 500}
	box25 := Product{ID: "V25", ArticleCode: "H1.314.016", MinQty: 25, MultipleQty: 25, MaxQty: 1000}
	all := []Product{single, box5, box25}
	tests := []struct {
		name     string
		variants []Product
		q        int
		wantID   string
		wantCode string
		wantMsg  string
	}{
		{"largest multiple that divides", all, 50, "V25", "", ""},
		{"falls back to a smaller package", all, 15, "V5", "", ""},
		{"singles", all, 7, "V1", "", ""},
		{"above every maximum but a multiple", all, 1500, "", EINVALID, "multiples of 25 from 25 to 1000"},
		{"only boxes and an odd quantity", []Product{box5, box25}, 7, "", EINVALID, "multiples of 5 from 5 to 500, or multiples of 25 from 25 to 1000"},
		{"zero", all, 0, "", EINVALID, "quantity 0"},
		{"negative", all, -5, "", EINVALID, "quantity -5"},
		{"no variants", nil, 5, "", ENOTFOUND, "unknown article"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ChooseVariant(tt.variants, tt.q)
			if tt.wantCode == "" {
				if err != nil || got.ID != tt.wantID {
					t.Fatalf("ChooseVariant = %v, %v; want %s", got.ID, err, tt.wantID)
				}
				return
			}
			if ErrorCode(err) != tt.wantCode || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("ChooseVariant err = %v; want code %s containing %q", err, tt.wantCode, tt.wantMsg)
			}
		})
	}
}

func TestErrorCodeAndMessage(t *testing.T) {
	inner := FieldErrorf("items[2].quantity", "must be positive")
	wrapped := fmt.Errorf("validate: %w", inner)
	if ErrorCode(wrapped) != EINVALID || ErrorMessage(wrapped) != "must be positive" {
		t.Fatalf("code %q message %q", ErrorCode(wrapped), ErrorMessage(wrapped))
	}
	var e *Error
	if !errors.As(wrapped, &e) || e.Field != "items[2].quantity" {
		t.Fatalf("field lost: %v", e)
	}
	plain := errors.New("disk on fire: /var/lib/x")
	if ErrorCode(plain) != EINTERNAL || ErrorMessage(plain) != "internal error" {
		t.Fatal("internal error details leak")
	}
	if ErrorCode(nil) != "" || ErrorMessage(nil) != "" {
		t.Fatal("nil error has a code")
	}
}

func TestAcceptsQuantity(t *testing.T) {
	p := Product{MinQty: 10, MultipleQty: 5, MaxQty: 50}
	for q, want := range map[int]bool{5: false, 10: true, 12: false, 50: true, 55: false, 0: false, -10: false} {
		if got := p.AcceptsQuantity(q); got != want {
			t.Errorf("AcceptsQuantity(%d) = %v, want %v", q, got, want)
		}
	}
}
