// Package bot enters one order into the ERP through its order form: a new draft, the
// customer, one line per item, and save with the order's reference.
package bot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"archibald"
	"archibald/erp"
)

// Session is the part of an ERP session the bot drives. *erp.Session implements it;
// its order calls are foreground requests, served before any sync page.
type Session interface {
	NewOrder(ctx context.Context) (draft string, err error)
	SetCustomer(ctx context.Context, draft, customerID string) error
	AddLine(ctx context.Context, draft string, l erp.Line) (lineNo int, err error)
	Save(ctx context.Context, draft, reference string) (orderID string, err error)
	FindOrders(ctx context.Context, reference string) ([]erp.Order, error)
}

// Catalog gives the package variants of an article, from the mirror.
type Catalog interface {
	ProductsByArticle(ctx context.Context, articleCode string) ([]archibald.Product, error)
}

// MaxDraftAttempts bounds how often the bot starts an order's draft again after the ERP
// discarded it (view_lost).
const MaxDraftAttempts = 3

// ErrOutcomeUnknown wraps the error of a Save whose outcome is unknown: the ERP may have
// saved the order. The caller must look the order up by reference (FindOrder) before it
// may submit it again.
var ErrOutcomeUnknown = errors.New("bot: the ERP may have saved the order; look it up by reference before any retry")

// Bot enters orders through one ERP session, one order at a time.
type Bot struct {
	// immutable after New
	session Session
	catalog Catalog
	log     *slog.Logger

	// turn is a one-slot semaphore: two orders never share the session's order form.
	// A channel rather than a mutex so that a caller's ctx can end the wait.
	turn chan struct{}
}

// New returns a bot that drives session and picks variants from catalog.
func New(session Session, catalog Catalog, logger *slog.Logger) *Bot {
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Bot{session: session, catalog: catalog, log: logger, turn: make(chan struct{}, 1)}
}

// CreateOrder enters o into the ERP and returns the ERP's order id. Errors the agent
// must act on are *archibald.Error (unknown customer or article, invalid quantity); an
// error wrapping ErrOutcomeUnknown means the order may exist in the ERP all the same.
func (b *Bot) CreateOrder(ctx context.Context, o archibald.Order) (string, error) {
	if o.Reference == "" {
		return "", archibald.FieldErrorf("reference", "an order needs a reference to be found in the ERP")
	}
	lines, err := b.resolveLines(ctx, o.Lines)
	if err != nil {
		return "", err
	}
	select {
	case b.turn <- struct{}{}:
	case <-ctx.Done():
		return "", fmt.Errorf("bot: waiting for the order form: %w", ctx.Err())
	}
	defer func() { <-b.turn }()

	start := time.Now()
	for attempt := 1; ; attempt++ {
		id, err := b.enter(ctx, o, lines)
		if err == nil {
			b.log.Info("order entered in the ERP", "reference", o.Reference, "erpOrderId", id,
				"lines", len(lines), "drafts", attempt, "took", time.Since(start))
			return id, nil
		}
		if attempt < MaxDraftAttempts && draftOnly(err) {
			// Nothing real was written: only the draft is lost, so it may be made again.
			b.log.Warn("the order draft was lost; starting it again",
				"reference", o.Reference, "attempt", attempt, "err", err)
			continue
		}
		return "", err
	}
}

// enter makes one draft and saves it.
func (b *Bot) enter(ctx context.Context, o archibald.Order, lines []erp.Line) (string, error) {
	draft, err := b.session.NewOrder(ctx)
	if err != nil {
		return "", fmt.Errorf("bot: opening a new order form: %w", err)
	}
	if err := b.session.SetCustomer(ctx, draft, o.CustomerID); err != nil {
		if errors.Is(err, erp.ErrUnknownCustomer) {
			return "", &archibald.Error{Code: archibald.EINVALID, Field: "customerId",
				Message: fmt.Sprintf("the ERP does not know customer %q", o.CustomerID)}
		}
		return "", fmt.Errorf("bot: setting customer %s: %w", o.CustomerID, err)
	}
	for i, l := range lines {
		if _, err := b.session.AddLine(ctx, draft, l); err != nil {
			return "", lineError(i, o.Lines[i], err)
		}
	}
	id, err := b.session.Save(ctx, draft, o.Reference)
	var apiErr *erp.APIError
	switch {
	case err == nil && id == "":
		// Never invent an id: the order is probably saved, but we cannot say under what.
		return "", fmt.Errorf("bot: the ERP saved without an order id: %w", ErrOutcomeUnknown)
	case err == nil:
		return id, nil
	case errors.As(err, &apiErr) && apiErr.Status >= 400 && apiErr.Status < 500:
		// A refusal (view_lost, incomplete_order, …) is a definite answer: not saved.
		return "", &saveError{fmt.Errorf("bot: saving order %s: %w", o.Reference, err)}
	default:
		// No answer, a transport failure or a server error: the ERP may have saved it.
		return "", &saveError{fmt.Errorf("bot: saving order %s: %w: %w", o.Reference, ErrOutcomeUnknown, err)}
	}
}

// saveError marks an error of the save step, after which the draft is never made again
// unless the ERP said plainly that it discarded it.
type saveError struct{ err error }

func (e *saveError) Error() string { return e.err.Error() }
func (e *saveError) Unwrap() error { return e.err }

// draftOnly reports whether err lost only the draft, so that starting the draft again
// cannot enter the order twice: the ERP discarded the draft (view_lost, even on save), or
// a step before save could not reach the ERP (whatever that step did, it is undone with
// the draft: nothing is real before save).
func draftOnly(err error) bool {
	if errors.Is(err, erp.ErrViewLost) {
		return true
	}
	var se *saveError
	return !errors.As(err, &se) && erp.IsTransient(err)
}

func lineError(i int, line archibald.OrderLine, err error) error {
	field := fmt.Sprintf("items[%d]", i)
	var apiErr *erp.APIError
	msg := err.Error()
	if errors.As(err, &apiErr) {
		msg = apiErr.Message
	}
	switch {
	case errors.Is(err, erp.ErrInvalidQuantity):
		return &archibald.Error{Code: archibald.EINVALID, Field: field + ".quantity",
			Message: fmt.Sprintf("the ERP refused quantity %d of %s: %s", line.Quantity, line.ArticleCode, msg)}
	case errors.Is(err, erp.ErrInvalidDiscount):
		return &archibald.Error{Code: archibald.EINVALID, Field: field + ".discountPct",
			Message: fmt.Sprintf("the ERP refused discount %v%% on %s: %s", line.DiscountPct, line.ArticleCode, msg)}
	case errors.Is(err, erp.ErrUnknownVariant):
		return &archibald.Error{Code: archibald.EINVALID, Field: field + ".articleCode",
			Message: fmt.Sprintf("the ERP does not know article %s any more", line.ArticleCode)}
	}
	return fmt.Errorf("bot: adding line %d (%s × %d): %w", i+1, line.ArticleCode, line.Quantity, err)
}

// resolveLines chooses the package variant of every line from the mirror.
func (b *Bot) resolveLines(ctx context.Context, items []archibald.OrderLine) ([]erp.Line, error) {
	if len(items) == 0 {
		return nil, archibald.FieldErrorf("items", "an order needs at least one item")
	}
	lines := make([]erp.Line, len(items))
	for i, it := range items {
		variants, err := b.catalog.ProductsByArticle(ctx, it.ArticleCode)
		if err != nil {
			return nil, fmt.Errorf("bot: looking up article %s: %w", it.ArticleCode, err)
		}
		v, err := archibald.ChooseVariant(variants, it.Quantity)
		if err != nil {
			var e *archibald.Error
			if errors.As(err, &e) {
				field := fmt.Sprintf("items[%d].quantity", i)
				if e.Code == archibald.ENOTFOUND {
					field = fmt.Sprintf("items[%d].articleCode", i)
					e = &archibald.Error{Code: archibald.EINVALID, Message: fmt.Sprintf("unknown article %q", it.ArticleCode)}
				}
				return nil, &archibald.Error{Code: e.Code, Field: field, Message: e.Message}
			}
			return nil, err
		}
		lines[i] = erp.Line{VariantID: v.ID, Quantity: it.Quantity, DiscountPct: it.DiscountPct}
	}
	return lines, nil
}

// FindOrder looks an order up in the ERP by reference. It is how an order whose outcome
// is unknown is settled: found means created, with its id.
func (b *Bot) FindOrder(ctx context.Context, reference string) (erpOrderID string, found bool, err error) {
	orders, err := b.session.FindOrders(ctx, reference)
	if err != nil {
		return "", false, fmt.Errorf("bot: looking up order %s in the ERP: %w", reference, err)
	}
	for _, o := range orders {
		if o.Reference == reference {
			return o.OrderID, true, nil
		}
	}
	return "", false, nil
}
