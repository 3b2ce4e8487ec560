package syncer

import (
	"context"
	"fmt"

	"archibald"
	"archibald/erp"
)

// ERP is what the sync services read: the three paged lists of the ERP. *erp.Session
// implements it.
type ERP interface {
	Customers(ctx context.Context, page int) (erp.Page[archibald.Customer], error)
	Products(ctx context.Context, page int) (erp.Page[archibald.Product], error)
	Prices(ctx context.Context, page int) (erp.Page[archibald.Price], error)
}

// fetchedPage is one ERP page made ready for MirrorStore.CommitPage.
type fetchedPage struct {
	commit     archibald.PageCommit // rows and Total filled in; Run and Page set by the caller
	totalRows  int
	rowsOnPage int
}

// pageFetcher reads one page of an entity's list.
type pageFetcher func(ctx context.Context, page int) (fetchedPage, error)

// fetcherFor returns the fetcher of an entity's list, or an error for an unknown entity.
func fetcherFor(entity string, src ERP) (pageFetcher, error) {
	switch entity {
	case archibald.EntityCustomers:
		return func(ctx context.Context, page int) (fetchedPage, error) {
			p, err := src.Customers(ctx, page)
			return fetchedPage{commit: archibald.PageCommit{Total: p.TotalPages, Customers: p.Rows},
				totalRows: p.TotalRows, rowsOnPage: len(p.Rows)}, err
		}, nil
	case archibald.EntityProducts:
		return func(ctx context.Context, page int) (fetchedPage, error) {
			p, err := src.Products(ctx, page)
			return fetchedPage{commit: archibald.PageCommit{Total: p.TotalPages, Products: p.Rows},
				totalRows: p.TotalRows, rowsOnPage: len(p.Rows)}, err
		}, nil
	case archibald.EntityPrices:
		return func(ctx context.Context, page int) (fetchedPage, error) {
			p, err := src.Prices(ctx, page)
			return fetchedPage{commit: archibald.PageCommit{Total: p.TotalPages, Prices: p.Rows},
				totalRows: p.TotalRows, rowsOnPage: len(p.Rows)}, err
		}, nil
	}
	return nil, fmt.Errorf("syncer: unknown entity %q (want one of %v)", entity, archibald.Entities)
}
