package mirrorrow

import (
	"testing"

	"archibald"
)

func TestFromPage(t *testing.T) {
	run := archibald.SyncRun{Entity: archibald.EntityCustomers}
	a := archibald.Customer{ID: "C1", Name: "Ärzte Müller", VATNumber: "IT1"}
	b := a
	b.City = "Parma"
	rows, err := FromPage(archibald.PageCommit{Run: run, Page: 1, Customers: []archibald.Customer{a, {ID: "C2"}, b}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Key != "C2" || rows[1].Key != "C1" {
		t.Fatalf("rows %+v: want C2 then C1, the repeated key written once at its last place", rows)
	}
	again, _ := FromPage(archibald.PageCommit{Run: run, Page: 1, Customers: []archibald.Customer{b}})
	first, _ := FromPage(archibald.PageCommit{Run: run, Page: 1, Customers: []archibald.Customer{a}})
	if again[0].Hash != rows[1].Hash || first[0].Hash == rows[1].Hash {
		t.Fatal("the hash does not follow the row's content")
	}
	if got := rows[1].Vals[5]; got != "ärzte müller" {
		t.Fatalf("folded name %q", got)
	}

	for name, p := range map[string]archibald.PageCommit{
		"rows of another entity": {Run: run, Page: 1, Prices: []archibald.Price{{ArticleCode: "A"}}},
		"empty key":              {Run: run, Page: 1, Customers: []archibald.Customer{{Name: "x"}}},
		"unknown entity":         {Run: archibald.SyncRun{Entity: "invoices"}, Page: 1},
		"page 0":                 {Run: run},
		"negative total":         {Run: run, Page: 1, Total: -1},
	} {
		if _, err := FromPage(p); archibald.ErrorCode(err) != archibald.EINVALID {
			t.Errorf("%s: err %v, want EINVALID", name, err)
		}
	}
	if NormArticle("h1.314 016") != "H1314016" {
		t.Fatal("NormArticle")
	}
}
