package bot

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"

	"archibald"
	"archibald/erp"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeSession is an erp session with function fields; it records the calls it gets.
type fakeSession struct {
	newOrder    func(ctx context.Context) (string, error)
	setCustomer func(ctx context.Context, draft, customerID string) error
	addLine     func(ctx context.Context, draft string, l erp.Line) (int, error)
	save        func(ctx context.Context, draft, reference string) (string, error)
	findOrders  func(ctx context.Context, reference string) ([]erp.Order, error)

	mu    sync.Mutex
	calls []string
}

func (f *fakeSession) record(c string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, c)
}

func (f *fakeSession) count(prefix string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}

func (f *fakeSession) NewOrder(ctx context.Context) (string, error) {
	f.record("new")
	if f.newOrder != nil {
		return f.newOrder(ctx)
	}
	return "D1", nil
}
func (f *fakeSession) SetCustomer(ctx context.Context, draft, id string) error {
	f.record("customer " + id)
	if f.setCustomer != nil {
		return f.setCustomer(ctx, draft, id)
	}
	return nil
}
func (f *fakeSession) AddLine(ctx context.Context, draft string, l erp.Line) (int, error) {
	f.record(fmt.Sprintf("line %s %d %g", l.VariantID, l.Quantity, l.DiscountPct))
	if f.addLine != nil {
		return f.addLine(ctx, draft, l)
	}
	return 1, nil
}
func (f *fakeSession) Save(ctx context.Context, draft, ref string) (string, error) {
	f.record("save " + ref)
	if f.save != nil {
		return f.save(ctx, draft, ref)
	}
	return "ORD-1", nil
}
func (f *fakeSession) FindOrders(ctx context.Context, ref string) ([]erp.Order, error) {
	f.record("find " + ref)
	if f.findOrders != nil {
		return f.findOrders(ctx, ref)
	}
	return nil, nil
}

// catalog is a Catalog over a fixed list of variants.
type catalog []archibald.Product

func (c catalog) ProductsByArticle(_ context.Context, code string) ([]archibald.Product, error) {
	var out []archibald.Product
	for _, p := range c {
		if p.ArticleCode == code {
			out = append(out, p)
		}
	}
	return out, nil
}

var testCatalog = catalog{
	{ID: "V-A1", ArticleCode: "A", MinQty: 1, MultipleQty: 1, MaxQty: 100},
	{ID: "V-A5", ArticleCode: "A", MinQty: 5, MultipleQty: 5, MaxQty: 500},
	{ID: "V-B10", ArticleCode: "B", MinQty: 10, MultipleQty: 10, MaxQty: 1000},
}

func order(lines ...archibald.OrderLine) archibald.Order {
	return archibald.Order{ID: "o1", Reference: "REF-1", CustomerID: "C001", Lines: lines}
}

func TestCreateOrderSteps(t *testing.T) {
	s := &fakeSession{}
	b := New(s, testCatalog, nil)
	id, err := b.CreateOrder(context.Background(), order(
		archibald.OrderLine{ArticleCode: "A", Quantity: 15, DiscountPct: 10},
		archibald.OrderLine{ArticleCode: "A", Quantity: 7},
		archibald.OrderLine{ArticleCode: "B", Quantity: 30},
	))
	if err != nil || id != "ORD-1" {
		t.Fatalf("CreateOrder = %q, %v", id, err)
	}
	want := []string{"new", "customer C001", "line V-A5 15 10", "line V-A1 7 0", "line V-B10 30 0", "save REF-1"}
	if fmt.Sprint(s.calls) != fmt.Sprint(want) {
		t.Fatalf("calls %v, want %v", s.calls, want)
	}
}

func TestCreateOrderValidation(t *testing.T) {
	tests := []struct {
		name      string
		order     archibald.Order
		wantField string
		wantMsg   string
	}{
		{"no items", order(), "items", "at least one item"},
		{"unknown article", order(archibald.OrderLine{ArticleCode: "ZZ", Quantity: 1}), "items[0].articleCode", `unknown article "ZZ"`},
		{"quantity no variant accepts", order(archibald.OrderLine{ArticleCode: "A", Quantity: 1}, archibald.OrderLine{ArticleCode: "B", Quantity: 15}),
			"items[1].quantity", "multiples of 10 from 10 to 1000"},
		{"no reference", archibald.Order{CustomerID: "C1", Lines: []archibald.OrderLine{{ArticleCode: "A", Quantity: 1}}}, "reference", "reference"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &fakeSession{}
			_, err := New(s, testCatalog, nil).CreateOrder(context.Background(), tt.order)
			var e *archibald.Error
			if !errors.As(err, &e) || e.Field != tt.wantField || !strings.Contains(e.Message, tt.wantMsg) {
				t.Fatalf("err = %v, want field %s with %q", err, tt.wantField, tt.wantMsg)
			}
			if len(s.calls) != 0 {
				t.Fatalf("the ERP was called for an invalid order: %v", s.calls)
			}
		})
	}
}

func TestERPRefusalsBecomeFieldErrors(t *testing.T) {
	s := &fakeSession{
		setCustomer: func(context.Context, string, string) error {
			return &erp.APIError{Status: 404, Code: "unknown_customer", Message: "no such customer"}
		},
	}
	_, err := New(s, testCatalog, nil).CreateOrder(context.Background(), order(archibald.OrderLine{ArticleCode: "A", Quantity: 1}))
	var e *archibald.Error
	if !errors.As(err, &e) || e.Field != "customerId" {
		t.Fatalf("err = %v, want a customerId field error", err)
	}

	s = &fakeSession{
		addLine: func(context.Context, string, erp.Line) (int, error) {
			return 0, &erp.APIError{Status: 422, Code: "invalid_quantity", Message: "quantity must be a multiple of 5"}
		},
	}
	_, err = New(s, testCatalog, nil).CreateOrder(context.Background(), order(archibald.OrderLine{ArticleCode: "A", Quantity: 5}))
	if !errors.As(err, &e) || e.Field != "items[0].quantity" || !strings.Contains(e.Message, "multiple of 5") {
		t.Fatalf("err = %v, want the ERP's message on items[0].quantity", err)
	}
	if s.count("save") != 0 {
		t.Fatal("saved an order whose line was refused")
	}
}

func TestViewLostStartsTheDraftAgainAtMostThreeTimes(t *testing.T) {
	for _, losses := range []int{1, 2, 3} {
		t.Run(fmt.Sprintf("%d losses", losses), func(t *testing.T) {
			var n atomic.Int32
			s := &fakeSession{addLine: func(context.Context, string, erp.Line) (int, error) {
				if int(n.Add(1)) <= losses {
					return 0, &erp.APIError{Status: 409, Code: "view_lost", Message: "view lost"}
				}
				return 1, nil
			}}
			id, err := New(s, testCatalog, nil).CreateOrder(context.Background(), order(archibald.OrderLine{ArticleCode: "A", Quantity: 1}))
			if losses < MaxDraftAttempts {
				if err != nil || id != "ORD-1" {
					t.Fatalf("CreateOrder = %q, %v", id, err)
				}
				if got := s.count("new"); got != losses+1 {
					t.Fatalf("%d drafts, want %d", got, losses+1)
				}
				return
			}
			if !errors.Is(err, erp.ErrViewLost) {
				t.Fatalf("err = %v, want ErrViewLost after %d drafts", err, MaxDraftAttempts)
			}
			if got := s.count("new"); got != MaxDraftAttempts {
				t.Fatalf("%d drafts, want %d", got, MaxDraftAttempts)
			}
			if s.count("save") != 0 {
				t.Fatal("saved after losing the view")
			}
		})
	}
}

func TestNeverSavesAgainAfterUnknownOutcome(t *testing.T) {
	s := &fakeSession{save: func(context.Context, string, string) (string, error) {
		return "", fmt.Errorf("erp: POST /erp/orders/D1/save: connection reset: %w", erp.ErrUnknownOutcome)
	}}
	_, err := New(s, testCatalog, nil).CreateOrder(context.Background(), order(archibald.OrderLine{ArticleCode: "A", Quantity: 1}))
	if !errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("err = %v, want ErrOutcomeUnknown", err)
	}
	if got := s.count("save"); got != 1 {
		t.Fatalf("Save called %d times, want exactly once", got)
	}
	if got := s.count("new"); got != 1 {
		t.Fatalf("%d drafts after an unknown outcome, want 1", got)
	}
}

func TestSaveWithoutIDIsNotInvented(t *testing.T) {
	s := &fakeSession{save: func(context.Context, string, string) (string, error) { return "", nil }}
	id, err := New(s, testCatalog, nil).CreateOrder(context.Background(), order(archibald.OrderLine{ArticleCode: "A", Quantity: 1}))
	if id != "" || !errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("CreateOrder = %q, %v; want no id and ErrOutcomeUnknown", id, err)
	}
}

// TestOrdersNeverShareTheForm runs orders concurrently and checks that the steps of one
// order are never interleaved with another's.
func TestOrdersNeverShareTheForm(t *testing.T) {
	var open atomic.Int32 // drafts open now
	var overlaps atomic.Int32
	s := &fakeSession{
		newOrder: func(context.Context) (string, error) {
			if open.Add(1) != 1 {
				overlaps.Add(1)
			}
			return "D", nil
		},
		save: func(context.Context, string, string) (string, error) {
			open.Add(-1)
			return "ORD", nil
		},
	}
	b := New(s, testCatalog, nil)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			o := order(archibald.OrderLine{ArticleCode: "A", Quantity: 1 + i})
			if _, err := b.CreateOrder(context.Background(), o); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := overlaps.Load(); n != 0 {
		t.Fatalf("%d orders opened a draft while another was open", n)
	}
}

func TestWaitingForTheFormHonoursContext(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{})
	s := &fakeSession{newOrder: func(context.Context) (string, error) {
		close(entered)
		<-release
		return "D", nil
	}}
	b := New(s, testCatalog, nil)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = b.CreateOrder(context.Background(), order(archibald.OrderLine{ArticleCode: "A", Quantity: 1}))
	}()
	<-entered
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := b.CreateOrder(ctx, order(archibald.OrderLine{ArticleCode: "A", Quantity: 1})); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want Canceled while another order holds the form", err)
	}
	close(release)
	<-done
}

func TestFindOrder(t *testing.T) {
	s := &fakeSession{findOrders: func(_ context.Context, ref string) ([]erp.Order, error) {
		if ref == "REF-9" {
			return []erp.Order{{OrderID: "ORD-9", Reference: "REF-9"}}, nil
		}
		return nil, nil
	}}
	b := New(s, testCatalog, nil)
	if id, found, err := b.FindOrder(context.Background(), "REF-9"); err != nil || !found || id != "ORD-9" {
		t.Fatalf("FindOrder(REF-9) = %q %v %v", id, found, err)
	}
	if _, found, err := b.FindOrder(context.Background(), "REF-0"); err != nil || found {
		t.Fatalf("FindOrder(REF-0) = %v %v", found, err)
	}
}

func TestTransientErrorBeforeSaveStartsTheDraftAgain(t *testing.T) {
	var n atomic.Int32
	s := &fakeSession{setCustomer: func(context.Context, string, string) error {
		if n.Add(1) == 1 {
			return &erp.APIError{Status: 503, Code: "unavailable", Message: "try later"}
		}
		return nil
	}}
	id, err := New(s, testCatalog, nil).CreateOrder(context.Background(), order(archibald.OrderLine{ArticleCode: "A", Quantity: 1}))
	if err != nil || id != "ORD-1" {
		t.Fatalf("CreateOrder = %q, %v", id, err)
	}
	if s.count("new") != 2 || s.count("save") != 1 {
		t.Fatalf("calls %v: want two drafts and one save", s.calls)
	}
}

func TestServerErrorOnSaveIsAnUnknownOutcome(t *testing.T) {
	s := &fakeSession{save: func(context.Context, string, string) (string, error) {
		return "", &erp.APIError{Status: 503, Code: "unavailable", Message: "try later"}
	}}
	_, err := New(s, testCatalog, nil).CreateOrder(context.Background(), order(archibald.OrderLine{ArticleCode: "A", Quantity: 1}))
	if !errors.Is(err, ErrOutcomeUnknown) || s.count("save") != 1 || s.count("new") != 1 {
		t.Fatalf("err = %v, calls %v: want one save and ErrOutcomeUnknown", err, s.calls)
	}
}
