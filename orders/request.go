package orders

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"unicode"
	"unicode/utf8"

	"archibald"
)

// Limits on an order request. They are far above any real order and keep a hostile
// request from costing more than a moment.
const (
	MaxItems         = 200
	MaxQuantity      = 1_000_000
	maxIDLen         = 64
	maxNameLen       = 200
	maxReferenceLen  = 64
	maxArticleLength = 64
)

// Request is an agent's order as it arrives at the API.
type Request struct {
	CustomerID   string                `json:"customerId"`
	CustomerName string                `json:"customerName,omitempty"`
	Reference    string                `json:"reference,omitempty"`
	Items        []archibald.OrderLine `json:"items"`
}

// Validate checks the request's shape, without the mirror. Its error is an
// *archibald.Error naming the first field that is wrong.
func (r Request) Validate() error {
	if err := checkCode("customerId", r.CustomerID, maxIDLen); err != nil {
		return err
	}
	if len(r.CustomerName) > maxNameLen || !utf8.ValidString(r.CustomerName) {
		return archibald.FieldErrorf("customerName", "must be valid text of at most %d bytes", maxNameLen)
	}
	if r.Reference != "" {
		if err := checkReference(r.Reference); err != nil {
			return err
		}
	}
	switch {
	case len(r.Items) == 0:
		return archibald.FieldErrorf("items", "an order needs at least one item")
	case len(r.Items) > MaxItems:
		return archibald.FieldErrorf("items", "an order has at most %d items; this one has %d", MaxItems, len(r.Items))
	}
	for i, it := range r.Items {
		field := fmt.Sprintf("items[%d]", i)
		if err := checkCode(field+".articleCode", it.ArticleCode, maxArticleLength); err != nil {
			return err
		}
		if it.Quantity <= 0 || it.Quantity > MaxQuantity {
			return archibald.FieldErrorf(field+".quantity", "must be a whole number from 1 to %d; got %d", MaxQuantity, it.Quantity)
		}
		if math.IsNaN(it.DiscountPct) || it.DiscountPct < 0 || it.DiscountPct > 100 {
			return archibald.FieldErrorf(field+".discountPct", "must be a percentage from 0 to 100; got %v", it.DiscountPct)
		}
	}
	return nil
}

// checkCode accepts an identifier: printable, no spaces at the ends, not too long.
func checkCode(field, s string, maxLen int) error {
	switch {
	case s == "":
		return archibald.FieldErrorf(field, "is required")
	case len(s) > maxLen:
		return archibald.FieldErrorf(field, "is at most %d bytes long", maxLen)
	case !utf8.ValidString(s):
		return archibald.FieldErrorf(field, "is not valid UTF-8")
	}
	for _, r := range s {
		if !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return archibald.FieldErrorf(field, "must not contain spaces or control characters")
		}
	}
	return nil
}

// checkReference accepts the characters an ERP reference field takes.
func checkReference(s string) error {
	if len(s) > maxReferenceLen {
		return archibald.FieldErrorf("reference", "is at most %d characters long", maxReferenceLen)
	}
	for _, r := range s {
		ok := r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' || r == '/'
		if !ok {
			return archibald.FieldErrorf("reference", "may hold only letters, digits and - _ . /")
		}
	}
	return nil
}

// Hash identifies the request's content, for idempotency: the same key with the same
// body is the same order.
func (r Request) Hash() string {
	b, _ := json.Marshal(r) // cannot fail: plain strings and numbers
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Mirror is what validation reads of the local mirror.
type Mirror interface {
	Customer(ctx context.Context, id string) (archibald.Customer, error)
	ProductsByArticle(ctx context.Context, articleCode string) ([]archibald.Product, error)
}

// ValidateAgainst checks that the customer and every article exist in the mirror and
// that each quantity is one a variant accepts. Its error is an *archibald.Error naming
// the field (EINVALID, mapped to 422), or an internal error from the store.
func (r Request) ValidateAgainst(ctx context.Context, m Mirror) error {
	if _, err := m.Customer(ctx, r.CustomerID); err != nil {
		if archibald.ErrorCode(err) == archibald.ENOTFOUND {
			return archibald.FieldErrorf("customerId", "unknown customer %q", r.CustomerID)
		}
		return fmt.Errorf("orders: looking up customer: %w", err)
	}
	for i, it := range r.Items {
		variants, err := m.ProductsByArticle(ctx, it.ArticleCode)
		if err != nil {
			return fmt.Errorf("orders: looking up article: %w", err)
		}
		if len(variants) == 0 {
			return archibald.FieldErrorf(fmt.Sprintf("items[%d].articleCode", i), "unknown article %q", it.ArticleCode)
		}
		if _, err := archibald.ChooseVariant(variants, it.Quantity); err != nil {
			return archibald.FieldErrorf(fmt.Sprintf("items[%d].quantity", i), "%s", archibald.ErrorMessage(err))
		}
	}
	return nil
}
