package postgres

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"

	"archibald"
)

// mirrorRow is one row of a page, ready to be written: its key, the content hash of its
// fields and the values of the table's columns (key first, then the data columns; the
// hash and seen_run are bound separately).
type mirrorRow struct {
	key  string
	hash string
	vals []any
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

// fold lower-cases s for case-insensitive matching (Unicode-aware, unlike lower() under the "C" collation).
func fold(s string) string { return strings.ToLower(s) }

// normArticle upper-cases an article code and drops its dots and spaces, so that
// "h1.314", "H1 314" and "H1314" all match "H1.314.016".
func normArticle(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '.' || r == ' ' {
			return -1
		}
		return r
	}, strings.ToUpper(s))
}

// customersSearchSep separates the folded fields in customers.search_text; it is a
// control character no query contains, so a match never spans two fields.
const customersSearchSep = "\x1f"

// pageRows validates the page's rows against the run's entity and turns them into
// mirror rows. When a key appears more than once in the page the last row wins and
// is written once, at the position of its last occurrence.
func pageRows(p archibald.PageCommit) ([]mirrorRow, error) {
	entity := p.Run.Entity
	var rows []mirrorRow
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
		rows = make([]mirrorRow, 0, len(p.Customers))
		for i, c := range p.Customers {
			if c.ID == "" {
				return nil, archibald.FieldErrorf(fmt.Sprintf("customers[%d].id", i), "is empty")
			}
			rows = append(rows, mirrorRow{
				key:  c.ID,
				hash: h.str(c.ID).str(c.Name).str(c.VATNumber).str(c.Email).str(c.City).sum(),
				vals: []any{c.ID, c.Name, c.VATNumber, c.Email, c.City,
					fold(c.Name), fold(c.Name) + customersSearchSep + fold(c.ID) + customersSearchSep + fold(c.VATNumber)},
			})
		}
	case archibald.EntityProducts:
		rows = make([]mirrorRow, 0, len(p.Products))
		for i, pr := range p.Products {
			if pr.ID == "" {
				return nil, archibald.FieldErrorf(fmt.Sprintf("products[%d].id", i), "is empty")
			}
			rows = append(rows, mirrorRow{
				key: pr.ID,
				hash: h.str(pr.ID).str(pr.ArticleCode).str(pr.Description).str(pr.Group).
					int(int64(pr.PackageContent)).int(int64(pr.MinQty)).int(int64(pr.MultipleQty)).int(int64(pr.MaxQty)).sum(),
				vals: []any{pr.ID, pr.ArticleCode, pr.Description, pr.Group,
					pr.PackageContent, pr.MinQty, pr.MultipleQty, pr.MaxQty,
					normArticle(pr.ArticleCode), fold(pr.Description)},
			})
		}
	case archibald.EntityPrices:
		rows = make([]mirrorRow, 0, len(p.Prices))
		for i, pc := range p.Prices {
			if pc.ArticleCode == "" {
				return nil, archibald.FieldErrorf(fmt.Sprintf("prices[%d].articleCode", i), "is empty")
			}
			rows = append(rows, mirrorRow{
				key:  pc.ArticleCode,
				hash: h.str(pc.ArticleCode).int(pc.UnitPriceCents).str(pc.Currency).str(pc.ValidFrom).str(pc.ValidTo).sum(),
				vals: []any{pc.ArticleCode, pc.UnitPriceCents, pc.Currency, pc.ValidFrom, pc.ValidTo},
			})
		}
	default:
		return nil, unknownEntity(entity)
	}
	return dedupLastWins(rows), nil
}

func dedupLastWins(rows []mirrorRow) []mirrorRow {
	last := make(map[string]int, len(rows))
	for i, r := range rows {
		last[r.key] = i
	}
	if len(last) == len(rows) {
		return rows
	}
	out := make([]mirrorRow, 0, len(last))
	for i, r := range rows {
		if last[r.key] == i {
			out = append(out, r)
		}
	}
	return out
}

func unknownEntity(entity string) error {
	return archibald.FieldErrorf("entity", "unknown entity %q (want one of %s)", entity, strings.Join(archibald.Entities, ", "))
}
