// Package mirrorrow turns a page of ERP rows into the rows a store writes: each with its
// key, the content hash that tells an update from an unchanged row, and the values of
// its table's columns. The SQLite and PostgreSQL stores share it, so that both hash and
// search the same way.
package mirrorrow

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"

	"archibald"
)

// Row is one row of a page, ready to be written: its key, the content hash of its
// fields and the values of the table's columns (key first, then the data columns in the
// order Columns gives; the hash and seen_run are bound separately).
type Row struct {
	Key  string
	Hash string
	Vals []any
}

// rowHasher builds the canonical encoding of a row's fields (each field length- or
// value-prefixed, so that no two different rows encode the same) and hashes it.
type rowHasher struct{ buf []byte }

func (h *rowHasher) str(s string) *rowHasher {
	h.buf = binary.AppendUvarint(h.buf, uint64(len(s)))
	h.buf = append(h.buf, s...)
	return h
}

func (h *rowHasher) int(n int64) *rowHasher {
	h.buf = binary.AppendVarint(h.buf, n)
	return h
}

func (h *rowHasher) sum() string {
	s := sha256.Sum256(h.buf)
	h.buf = h.buf[:0]
	return hex.EncodeToString(s[:])
}

// Fold lower-cases s for case-insensitive matching. It is done in Go because it is
// Unicode-aware, unlike SQLite's lower() or PostgreSQL's under the "C" collation.
func Fold(s string) string { return strings.ToLower(s) }

// NormArticle upper-cases an article code and drops its dots and spaces, so that
// "h1.314", "H1 314" and "H1314" all match "H1.314.016".
func NormArticle(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '.' || r == ' ' {
			return -1
		}
		return r
	}, strings.ToUpper(s))
}

// SearchSep separates the folded fields in customers.search_text; it is a
// control character no query contains, so a match never spans two fields.
const SearchSep = "\x1f"

// FromPage validates the page (its number, its total and its rows) against the run's entity and turns them into
// mirror rows. When a key appears more than once in the page the last row wins and
// is written once, at the position of its last occurrence.
func FromPage(p archibald.PageCommit) ([]Row, error) {
	if p.Page < 1 {
		return nil, archibald.FieldErrorf("page", "is %d; pages are numbered from 1", p.Page)
	}
	if p.Total < 0 {
		return nil, archibald.FieldErrorf("total", "is %d; it cannot be negative", p.Total)
	}
	entity := p.Run.Entity
	var rows []Row
	var h rowHasher
	counts := map[string]int{
		archibald.EntityCustomers: len(p.Customers),
		archibald.EntityProducts:  len(p.Products),
		archibald.EntityPrices:    len(p.Prices),
	}
	for _, name := range archibald.Entities {
		if n := counts[name]; name != entity && n > 0 {
			return nil, archibald.FieldErrorf(name, "a page of %s carries %d %s rows", entity, n, name)
		}
	}
	switch entity {
	case archibald.EntityCustomers:
		rows = make([]Row, 0, len(p.Customers))
		for i, c := range p.Customers {
			if c.ID == "" {
				return nil, archibald.FieldErrorf(fmt.Sprintf("customers[%d].id", i), "is empty")
			}
			rows = append(rows, Row{
				Key:  c.ID,
				Hash: h.str(c.ID).str(c.Name).str(c.VATNumber).str(c.Email).str(c.City).sum(),
				Vals: []any{c.ID, c.Name, c.VATNumber, c.Email, c.City,
					Fold(c.Name), Fold(c.Name) + SearchSep + Fold(c.ID) + SearchSep + Fold(c.VATNumber)},
			})
		}
	case archibald.EntityProducts:
		rows = make([]Row, 0, len(p.Products))
		for i, pr := range p.Products {
			if pr.ID == "" {
				return nil, archibald.FieldErrorf(fmt.Sprintf("products[%d].id", i), "is empty")
			}
			rows = append(rows, Row{
				Key: pr.ID,
				Hash: h.str(pr.ID).str(pr.ArticleCode).str(pr.Description).str(pr.Group).
					int(int64(pr.PackageContent)).int(int64(pr.MinQty)).int(int64(pr.MultipleQty)).int(int64(pr.MaxQty)).sum(),
				Vals: []any{pr.ID, pr.ArticleCode, pr.Description, pr.Group,
					pr.PackageContent, pr.MinQty, pr.MultipleQty, pr.MaxQty,
					NormArticle(pr.ArticleCode), Fold(pr.Description)},
			})
		}
	case archibald.EntityPrices:
		rows = make([]Row, 0, len(p.Prices))
		for i, pc := range p.Prices {
			if pc.ArticleCode == "" {
				return nil, archibald.FieldErrorf(fmt.Sprintf("prices[%d].articleCode", i), "is empty")
			}
			rows = append(rows, Row{
				Key:  pc.ArticleCode,
				Hash: h.str(pc.ArticleCode).int(pc.UnitPriceCents).str(pc.Currency).str(pc.ValidFrom).str(pc.ValidTo).sum(),
				Vals: []any{pc.ArticleCode, pc.UnitPriceCents, pc.Currency, pc.ValidFrom, pc.ValidTo},
			})
		}
	default:
		return nil, UnknownEntity(entity)
	}
	return dedupLastWins(rows), nil
}

func dedupLastWins(rows []Row) []Row {
	last := make(map[string]int, len(rows))
	for i, r := range rows {
		last[r.Key] = i
	}
	if len(last) == len(rows) {
		return rows
	}
	out := make([]Row, 0, len(last))
	for i, r := range rows {
		if last[r.Key] == i {
			out = append(out, r)
		}
	}
	return out
}

// UnknownEntity is the error for an entity name that is not one of archibald.Entities.
func UnknownEntity(entity string) error {
	return archibald.FieldErrorf("entity", "unknown entity %q (want one of %s)", entity, strings.Join(archibald.Entities, ", "))
}
