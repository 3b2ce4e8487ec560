package orders

import (
	"context"
	"errors"
	"fmt"
	"time"

	"archibald"
	"archibald/bot"
	"archibald/erp"
)

// lookupTimeout bounds one look-up of an order in the ERP by reference.
const lookupTimeout = 30 * time.Second

// process enters one queued order: it marks it submitting, takes the priority hold, runs
// the bot, and persists the outcome before the hold is released, so the agent hears the
// result before the services resume.
func (s *Service) process(ctx context.Context, o archibald.Order) {
	deadline := o.CreatedAt.Add(s.cfg.Timeout)
	if !time.Now().Before(deadline) {
		s.finish(ctx, o, archibald.OrderQueued, "", fmt.Sprintf(
			"the order was not entered: it waited longer than %v, the time allowed from its acceptance", s.cfg.Timeout), time.Now())
		return
	}
	start := time.Now()
	o, err := s.cfg.Store.TransitionOrder(ctx, o.ID, archibald.OrderTransition{
		From: archibald.OrderQueued, To: archibald.OrderSubmitting, At: start.UTC()})
	if err != nil {
		s.log.Error("marking the order submitting", "order", o.ID, "err", err)
		return
	}
	s.log.Info("order submitting", "order", o.ID, "reference", o.Reference, "attempt", o.Attempts,
		"queuedFor", start.Sub(o.CreatedAt))
	s.emit(EventSubmitting, o)

	octx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	enter := func(ctx context.Context) error {
		id, err := s.callBot(ctx, o)
		s.record(ctx, o, id, err, start)
		return nil
	}
	if s.cfg.Priority == nil {
		err = enter(octx)
	} else {
		err = s.cfg.Priority.WithPriority(octx, enter)
	}
	if err != nil {
		// The hold was never taken: nothing reached the ERP.
		msg := fmt.Sprintf("the order was not entered: the sync services could not be paused for it: %v", err)
		if errors.Is(err, context.DeadlineExceeded) {
			msg = fmt.Sprintf("the order was not entered: the sync services did not pause within the %v allowed", s.cfg.Timeout)
		}
		s.finish(ctx, o, archibald.OrderSubmitting, "", msg, start)
	}
}

// errBotPanicked stands for a panic of the bot; where it stopped is unknown.
var errBotPanicked = errors.New("the order bot crashed")

// callBot runs the bot, turning a panic into an unknown outcome: the bot may have saved
// the order before it crashed.
func (s *Service) callBot(ctx context.Context, o archibald.Order) (id string, err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("the order bot panicked", "order", o.ID, "panic", r)
			id, err = "", fmt.Errorf("%w: %w", errBotPanicked, bot.ErrOutcomeUnknown)
		}
	}()
	return s.cfg.Bot.CreateOrder(ctx, o)
}

// record persists the outcome of one submission.
func (s *Service) record(ctx context.Context, o archibald.Order, id string, err error, start time.Time) {
	wctx := context.WithoutCancel(ctx) // the outcome is written even past the order's deadline
	switch {
	case err == nil:
		s.finish(wctx, o, archibald.OrderSubmitting, id, "", start)
	case errors.Is(err, bot.ErrOutcomeUnknown):
		s.log.Warn("the outcome of the order's save is unknown; looking it up in the ERP",
			"order", o.ID, "reference", o.Reference, "err", err)
		if !s.settleOne(wctx, o, errors.Is(err, errBotPanicked)) {
			s.log.Warn("the ERP could not be asked; the order stays submitting until it can",
				"order", o.ID, "reference", o.Reference)
		}
	default:
		s.finish(wctx, o, archibald.OrderSubmitting, "", failureMessage(err, s.cfg.Timeout), start)
	}
}

// failureMessage says in words an agent can act on why the ERP did not take the order.
func failureMessage(err error, timeout time.Duration) string {
	var ae *archibald.Error
	switch {
	case errors.As(err, &ae) && ae.Field != "":
		return fmt.Sprintf("the ERP refused the order: %s: %s", ae.Field, ae.Message)
	case errors.As(err, &ae):
		return "the ERP refused the order: " + ae.Message
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("the order was not entered: the ERP did not answer within the %v allowed", timeout)
	case errors.Is(err, erp.ErrViewLost):
		return fmt.Sprintf("the order was not entered: the ERP discarded its draft %d times", bot.MaxDraftAttempts)
	case erp.IsTransient(err):
		return "the order was not entered: the ERP is unavailable (" + err.Error() + ")"
	}
	return "the order was not entered: " + err.Error()
}

// finish moves the order from `from` to created (id set) or failed (msg set), and tells
// the waiters and subscribers.
func (s *Service) finish(ctx context.Context, o archibald.Order, from archibald.OrderStatus, id, msg string, start time.Time) {
	t := archibald.OrderTransition{From: from, To: archibald.OrderCreated, ErpOrderID: id, At: time.Now().UTC()}
	if id == "" {
		t.To, t.Error = archibald.OrderFailed, msg
	}
	o2, err := s.cfg.Store.TransitionOrder(context.WithoutCancel(ctx), o.ID, t)
	if err != nil {
		s.log.Error("recording the order's outcome", "order", o.ID, "status", t.To, "err", err)
		return
	}
	took := time.Since(start)
	if t.To == archibald.OrderCreated {
		s.log.Info("order created", "order", o.ID, "reference", o.Reference, "erpOrderId", id, "took", took)
		s.emit(EventCreated, o2)
	} else {
		s.log.Warn("order failed", "order", o.ID, "reference", o.Reference, "error", msg, "took", took)
		s.emit(EventFailed, o2)
	}
	s.notify(o.ID)
}

// settle looks up every order left submitting — by a crash, or by a save whose outcome
// was unknown and could not be checked at once. It reports whether some are still
// unsettled because the ERP could not be asked.
func (s *Service) settle(ctx context.Context) (unsettled bool) {
	orders, err := s.cfg.Store.OrdersByStatus(ctx, archibald.OrderSubmitting)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("listing orders left submitting", "err", err)
		}
		return true
	}
	for _, o := range orders {
		if ctx.Err() != nil || s.life.StopRequested() {
			return true
		}
		s.log.Info("settling an order left submitting", "order", o.ID, "reference", o.Reference)
		if !s.settleOne(ctx, o, false) {
			unsettled = true
		}
	}
	return unsettled
}

// settleOne decides a submitting order by its reference in the ERP: found → created;
// absent → queued again (or failed once it is out of attempts or time, or when the bot
// crashed on it). It returns false when the ERP could not be asked.
func (s *Service) settleOne(ctx context.Context, o archibald.Order, crashed bool) bool {
	lctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	id, found, err := s.cfg.Bot.FindOrder(lctx, o.Reference)
	if err != nil {
		s.log.Warn("looking the order up in the ERP failed", "order", o.ID, "reference", o.Reference, "err", err)
		return false
	}
	now := time.Now()
	switch {
	case found:
		s.finish(ctx, o, archibald.OrderSubmitting, id, "", now)
	case crashed:
		s.finish(ctx, o, archibald.OrderSubmitting, "", "the order was not entered: internal error in the order bot", now)
	case o.Attempts >= s.cfg.MaxAttempts:
		s.finish(ctx, o, archibald.OrderSubmitting, "", fmt.Sprintf(
			"the order was not entered: the ERP did not confirm it after %d attempts", o.Attempts), now)
	case !now.Before(o.CreatedAt.Add(s.cfg.Timeout)):
		s.finish(ctx, o, archibald.OrderSubmitting, "", fmt.Sprintf(
			"the order was not entered: the ERP did not confirm it within the %v allowed", s.cfg.Timeout), now)
	default:
		// Not in the ERP: it was never saved, so it may be entered again.
		o2, err := s.cfg.Store.TransitionOrder(ctx, o.ID, archibald.OrderTransition{
			From: archibald.OrderSubmitting, To: archibald.OrderQueued, At: now.UTC()})
		if err != nil {
			s.log.Error("queueing the order again", "order", o.ID, "err", err)
			return false
		}
		s.log.Info("order not found in the ERP; queued again", "order", o.ID, "reference", o.Reference, "attempts", o2.Attempts)
		s.emit(EventQueued, o2)
		s.kick()
	}
	return true
}
