package priority_test

import (
	"context"
	"fmt"

	"archibald/priority"
)

// A background service passes each batch through its Gate; an order runs under
// WithPriority, with every registered service at a batch boundary.
func Example() {
	m := priority.New()
	gate := priority.NewGate()
	if err := m.Register("products", gate); err != nil {
		panic(err)
	}

	ctx := context.Background()
	batch, done, err := gate.Enter(ctx) // one page of the sync
	if err != nil {
		panic(err)
	}
	_ = batch // fetch and commit the page with it
	done()

	err = m.WithPriority(ctx, func(ctx context.Context) error {
		fmt.Println("order runs alone; products paused:", gate.Paused())
		return nil
	})
	fmt.Println("after the order: products paused:", gate.Paused(), err)
	// Output:
	// order runs alone; products paused: true
	// after the order: products paused: false <nil>
}

// Do returns fn's value, here the ERP's id of the order.
func ExampleDo() {
	m := priority.New()
	id, err := priority.Do(context.Background(), m, func(context.Context) (string, error) {
		return "ORD-000042", nil
	})
	fmt.Println(id, err)
	// Output: ORD-000042 <nil>
}
