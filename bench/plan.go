package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"

	"archibald"
	"archibald/orders"
)

// planOrders draws n orders from the mirror: a random customer and 1 to 5 distinct
// articles, each with a quantity its variants accept. The same seed and mirror give the
// same orders, so every mode enters the same ones.
func planOrders(ctx context.Context, store archibald.MirrorReader, n int, seed int64, mode Mode) ([]orders.Request, error) {
	customers, err := store.AllCustomers(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the mirror's customers: %w", err)
	}
	products, err := store.AllProducts(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the mirror's products: %w", err)
	}
	variants := map[string][]archibald.Product{}
	var articles []string
	for _, p := range products {
		if _, ok := variants[p.ArticleCode]; !ok {
			articles = append(articles, p.ArticleCode)
		}
		variants[p.ArticleCode] = append(variants[p.ArticleCode], p)
	}
	// Only articles that can be ordered at all.
	articles = slices.DeleteFunc(articles, func(a string) bool { return orderableQuantity(variants[a]) == 0 })
	switch {
	case len(customers) == 0:
		return nil, errors.New("the mirror holds no customers to order for")
	case len(articles) == 0:
		return nil, errors.New("the mirror holds no article that can be ordered")
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0x6f7264657273)) // "orders"
	plan := make([]orders.Request, n)
	for i := range plan {
		c := customers[rng.IntN(len(customers))]
		lines := min(1+rng.IntN(5), len(articles))
		var items []archibald.OrderLine
		for len(items) < lines {
			a := articles[rng.IntN(len(articles))]
			if slices.ContainsFunc(items, func(l archibald.OrderLine) bool { return l.ArticleCode == a }) {
				continue
			}
			items = append(items, archibald.OrderLine{ArticleCode: a, Quantity: orderableQuantity(variants[a])})
		}
		plan[i] = orders.Request{
			CustomerID: c.ID, CustomerName: c.Name, Items: items,
			Reference: fmt.Sprintf("BENCH-%s-%03d", mode, i+1),
		}
	}
	return plan, nil
}

// orderableQuantity returns the smallest quantity of the variant with the smallest
// package multiple, rounded up to that multiple; 0 when the article accepts none.
func orderableQuantity(vs []archibald.Product) int {
	if len(vs) == 0 {
		return 0
	}
	v := slices.MinFunc(vs, func(a, b archibald.Product) int { return a.MultipleQty - b.MultipleQty })
	mult := max(v.MultipleQty, 1)
	q := max(v.MinQty, mult)
	if r := q % mult; r != 0 {
		q += mult - r
	}
	if _, err := archibald.ChooseVariant(vs, q); err != nil {
		return 0
	}
	return q
}
