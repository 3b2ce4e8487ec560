package syncer

import (
	"context"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"time"

	"archibald"
	"archibald/erp"
	"archibald/priority"
)

func randFloat() float64 { return mrand.Float64() }

// maxWithdrawnInARow bounds the pages refused because the ERP session is paused while
// this service's own gate is not (the two are paused together, so this lasts an
// instant); past it the service backs off instead of spinning.
const maxWithdrawnInARow = 100

// run walks the entity's list from the run's checkpoint to the last page, then finishes
// the run. It returns errStopping or ctx's error when stopped, with the checkpoint kept.
func (s *Service) run(ctx context.Context) (err error) {
	store := s.cfg.Store
	run, resumed, err := store.CurrentRun(ctx, s.name)
	if err == nil && !resumed {
		run, err = store.BeginRun(ctx, s.name, newRunID(), time.Now())
	}
	if err != nil {
		s.failed(archibald.SyncRun{}, fmt.Errorf("starting a run: %w", err))
		return err
	}
	s.beginRun(run, resumed)
	defer func() {
		s.mu.Lock()
		s.inRun = false
		s.mu.Unlock()
	}()

	var (
		retries    int
		withdrawn  int
		lastTotal  = -1    // TotalRows on the last page read in this process; -1 unknown
		listShrank = false // a page past the end: the list changed during the run
	)
	for run.TotalPages == 0 || run.NextPage <= run.TotalPages {
		page := run.NextPage
		after, fp, err := s.page(ctx, run, page)
		switch {
		case err == nil:
			run, retries, withdrawn = after, 0, 0
			lastTotal = fp.totalRows
			s.committed(run, fp)
			continue
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, errStopping) || s.life.StopRequested():
			// Stop may cancel a batch admitted at the very moment it stopped the wait;
			// the page rolled back and the checkpoint stands.
			return errStopping
		case errors.Is(err, priority.ErrPreempted):
			s.log.Info("page preempted for an order; it will be fetched again after the resume", "page", page)
			continue
		case errors.Is(err, erp.ErrWithdrawn):
			// The ERP session is paused for an order: the page rolled back and is fetched
			// again once the gate lets the service through.
			if withdrawn++; withdrawn < maxWithdrawnInARow {
				continue
			}
			withdrawn = 0
			if werr := s.wait(ctx, s.cfg.RetryBase); werr != nil {
				return werr
			}
			continue
		case archibald.ErrorCode(err) == archibald.ECONFLICT:
			// The checkpoint moved under us (the page was committed after all): reload it.
			cur, ok, lerr := store.CurrentRun(ctx, s.name)
			if lerr != nil || !ok || cur.ID != run.ID {
				s.failed(run, fmt.Errorf("page %d: %w", page, err))
				return err
			}
			run = cur
			continue
		case errors.Is(err, erp.ErrPageOutOfRange) && page > 1:
			s.log.Warn("the list shrank during the run; finishing it without deleting vanished rows",
				"page", page, "totalPages", run.TotalPages)
			listShrank = true
		case erp.IsTransient(err) && retries < s.cfg.Retries:
			retries++
			delay := s.backoff(retries)
			s.log.Warn("page failed; retrying", "page", page, "attempt", retries, "in", delay, "err", err)
			if werr := s.wait(ctx, delay); werr != nil {
				return werr
			}
			continue
		default:
			err = fmt.Errorf("page %d: %w", page, err)
			s.failed(run, err)
			return err
		}
		break
	}
	return s.finish(ctx, run, lastTotal, listShrank)
}

// page fetches and commits one page as one batch under the gate.
func (s *Service) page(ctx context.Context, run archibald.SyncRun, page int) (archibald.SyncRun, fetchedPage, error) {
	batch, done, err := s.enter(ctx)
	if err != nil {
		return run, fetchedPage{}, err
	}
	defer done()
	fp, err := s.fetch(batch, page)
	if err == nil {
		fp.commit.Run = run
		fp.commit.Page = page
		run, err = s.cfg.Store.CommitPage(batch, fp.commit)
	}
	if err != nil && errors.Is(context.Cause(batch), priority.ErrPreempted) {
		err = fmt.Errorf("page %d: %w", page, priority.ErrPreempted)
	}
	return run, fp, err
}

// enter waits at the gate for a batch. Stop ends the wait at once; it does not cancel a
// batch already admitted, so Stop returns at a page boundary.
func (s *Service) enter(ctx context.Context) (context.Context, func(), error) {
	s.mu.Lock()
	if s.life.StopRequested() {
		s.mu.Unlock()
		return nil, nil, errStopping
	}
	waitCtx, cancel := context.WithCancel(ctx)
	s.cancelWait = cancel
	s.mu.Unlock()

	batch, done, err := s.gate.Enter(waitCtx)

	s.mu.Lock()
	s.cancelWait = nil
	s.mu.Unlock()
	if err != nil {
		cancel()
		if ctx.Err() == nil {
			return nil, nil, errStopping
		}
		return nil, nil, err
	}
	return batch, func() { done(); cancel() }, nil
}

// wait waits d, or until the service stops.
func (s *Service) wait(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-s.life.Stopping():
		return errStopping
	}
}

// backoff returns the delay before retry n (1-based): exponential, capped, jittered
// between half and all of it so that retries of several services spread out.
func (s *Service) backoff(n int) time.Duration {
	d := s.cfg.RetryBase << min(n-1, 20)
	if d <= 0 || d > s.cfg.RetryMax {
		d = s.cfg.RetryMax
	}
	return d/2 + time.Duration(randFloat()*float64(d/2))
}

// finish ends a run that covered every page, deleting the rows it did not see only when
// that is safe: the list did not change under the run, and the run saw rows, at least
// half as many as the mirror holds.
func (s *Service) finish(ctx context.Context, run archibald.SyncRun, lastTotal int, listShrank bool) error {
	store := s.cfg.Store
	mirror, err := store.MirrorCount(ctx, s.name)
	if err != nil {
		s.failed(run, fmt.Errorf("counting the mirror: %w", err))
		return err
	}
	seen := run.Counts.Seen
	prune := false
	switch {
	case listShrank:
	case seen == 0:
		s.log.Warn("the run saw no rows; keeping every row of the mirror", "runId", run.ID, "mirrorRows", mirror)
	case seen*2 < mirror:
		s.log.Warn("the run saw fewer than half the rows the mirror holds; keeping them",
			"runId", run.ID, "seen", seen, "mirrorRows", mirror)
	case lastTotal < 0:
		s.log.Info("the last page was read before a restart; vanished rows are deleted by the next run",
			"runId", run.ID)
	case seen != lastTotal:
		s.log.Warn("the list changed during the run; keeping rows not seen until the next run",
			"runId", run.ID, "seen", seen, "erpRows", lastTotal)
	default:
		prune = true
	}
	finished, err := store.FinishRun(ctx, s.name, run.ID, prune, time.Now())
	if err != nil {
		s.failed(run, fmt.Errorf("finishing the run: %w", err))
		return err
	}
	mirror -= finished.Counts.Deleted
	s.mu.Lock()
	s.status.Rows = finished.Counts
	s.status.MirrorRows = mirror
	s.status.LastSuccessAt = &finished.FinishedAt
	s.status.LastError = ""
	s.mu.Unlock()
	s.log.Info("sync run finished", "runId", run.ID, "pages", finished.TotalPages,
		"seen", finished.Counts.Seen, "inserted", finished.Counts.Inserted,
		"updated", finished.Counts.Updated, "deleted", finished.Counts.Deleted,
		"took", finished.FinishedAt.Sub(finished.StartedAt))
	s.emit(EventFinished, finished, "")
	return nil
}

func (s *Service) beginRun(run archibald.SyncRun, resumed bool) {
	mirror, err := s.cfg.Store.MirrorCount(context.Background(), s.name)
	s.mu.Lock()
	s.inRun = true
	s.status.RunID = run.ID
	s.status.Page = run.NextPage - 1
	s.status.TotalPages = run.TotalPages
	s.status.Rows = run.Counts
	started := run.StartedAt
	s.status.StartedAt = &started
	s.status.NextRunAt = nil
	if err == nil {
		s.status.MirrorRows = mirror
	}
	s.mu.Unlock()
	if resumed {
		s.log.Info("sync run continues from its checkpoint", "runId", run.ID, "page", run.NextPage)
	} else {
		s.log.Info("sync run started", "runId", run.ID)
	}
	s.emit(EventStarted, run, "")
}

func (s *Service) committed(run archibald.SyncRun, fp fetchedPage) {
	s.mu.Lock()
	inserted := run.Counts.Inserted - s.status.Rows.Inserted
	s.status.Page = run.NextPage - 1
	s.status.TotalPages = run.TotalPages
	s.status.Rows = run.Counts
	s.status.MirrorRows += inserted
	s.mu.Unlock()
	s.log.Debug("page committed", "runId", run.ID, "page", run.NextPage-1, "of", run.TotalPages, "rows", fp.rowsOnPage)
	s.emit(EventProgress, run, "")
}

func (s *Service) failed(run archibald.SyncRun, err error) {
	s.mu.Lock()
	s.status.LastError = err.Error()
	s.mu.Unlock()
	s.log.Error("sync run failed; it goes on from its checkpoint at the next run", "runId", run.ID, "err", err)
	s.emit(EventFailed, run, err.Error())
}
