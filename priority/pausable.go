package priority

import "context"

// Pausable is a background service the Manager can pause.
type Pausable interface {
	// Pause stops the service from starting new batches and returns once no batch is in
	// flight. If ctx ends first it returns an error wrapping ctx.Err(); the service then
	// stays paused until the matching Resume. Every call to Pause, whatever it returns,
	// is undone by exactly one call to Resume.
	Pause(ctx context.Context) error
	// Resume undoes one Pause. Without a matching Pause it does nothing.
	Resume()
}

// Preemptible is implemented by services that can abort their in-flight batch. The
// Manager calls Preempt when a service is still busy after the grace period; the aborted
// batch must be redone after the resume.
type Preemptible interface{ Preempt() }
