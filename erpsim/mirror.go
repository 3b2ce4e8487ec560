package erpsim

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"archibald"
)

// Mismatch is the first difference CompareMirror found between a mirror and the
// simulator's data.
type Mismatch struct {
	Entity, Detail string
	Want, Got      any
}

func (m *Mismatch) Error() string {
	return fmt.Sprintf("mirror differs from the ERP in %s: %s: want %+v, got %+v", m.Entity, m.Detail, m.Want, m.Got)
}

// CompareMirror checks that a mirror holds exactly the simulator's current customers,
// products and prices, row for row. It returns nil when it does, a *Mismatch describing
// the first difference when it does not, and the store's error when it cannot read it.
// Tests and the bench use it to prove that syncing lost nothing.
func (s *Server) CompareMirror(ctx context.Context, m archibald.MirrorReader) error {
	customers, err := m.AllCustomers(ctx)
	if err != nil {
		return err
	}
	if err := sameRows(archibald.EntityCustomers, s.Customers(), customers, func(c archibald.Customer) string { return c.ID }); err != nil {
		return err
	}
	products, err := m.AllProducts(ctx)
	if err != nil {
		return err
	}
	if err := sameRows(archibald.EntityProducts, s.Products(), products, func(p archibald.Product) string { return p.ID }); err != nil {
		return err
	}
	prices, err := m.AllPrices(ctx)
	if err != nil {
		return err
	}
	return sameRows(archibald.EntityPrices, s.Prices(), prices, func(p archibald.Price) string { return p.ArticleCode })
}

func sameRows[T comparable](entity string, want, got []T, key func(T) string) error {
	byKey := func(a, b T) int { return cmp.Compare(key(a), key(b)) }
	want, got = slices.Clone(want), slices.Clone(got)
	slices.SortFunc(want, byKey)
	slices.SortFunc(got, byKey)
	if len(want) != len(got) {
		return &Mismatch{Entity: entity, Detail: "row count", Want: len(want), Got: len(got)}
	}
	for i := range want {
		if want[i] != got[i] {
			return &Mismatch{Entity: entity, Detail: "row " + key(want[i]), Want: want[i], Got: got[i]}
		}
	}
	return nil
}
