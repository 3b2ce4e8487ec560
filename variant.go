package archibald

import (
	"fmt"
	"slices"
	"strings"
)

// ChooseVariant picks the package variant for an order line of quantity q: among the
// variants that accept q, the one with the largest MultipleQty (the biggest package that
// divides the quantity). When none accepts q, the *Error names the quantities each
// variant accepts, so the agent can correct the line.
func ChooseVariant(variants []Product, q int) (Product, error) {
	if len(variants) == 0 {
		return Product{}, Errorf(ENOTFOUND, "unknown article")
	}
	best := -1
	for i, v := range variants {
		if v.AcceptsQuantity(q) && (best < 0 || v.MultipleQty > variants[best].MultipleQty) {
			best = i
		}
	}
	if best >= 0 {
		return variants[best], nil
	}
	return Product{}, Errorf(EINVALID, "quantity %d is not valid for article %s: %s",
		q, variants[0].ArticleCode, ValidQuantities(variants))
}

// ValidQuantities describes the quantities the variants accept, e.g.
// "multiples of 5 from 5 to 500, or multiples of 25 from 25 to 1000".
func ValidQuantities(variants []Product) string {
	vs := slices.Clone(variants)
	slices.SortFunc(vs, func(a, b Product) int { return a.MultipleQty - b.MultipleQty })
	parts := make([]string, 0, len(vs))
	for _, v := range vs {
		mult := max(v.MultipleQty, 1)
		lo := max(v.MinQty, mult)
		if lo%mult != 0 {
			lo += mult - lo%mult
		}
		part := fmt.Sprintf("multiples of %d from %d", mult, lo)
		if mult == 1 {
			part = fmt.Sprintf("any quantity from %d", lo)
		}
		if v.MaxQty > 0 {
			part += fmt.Sprintf(" to %d", v.MaxQty)
		}
		if !slices.Contains(parts, part) {
			parts = append(parts, part)
		}
	}
	return strings.Join(parts, ", or ")
}
