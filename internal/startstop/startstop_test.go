package startstop

import (
	"errors"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestLifecycle(t *testing.T) {
	var l Lifecycle
	if l.Stop(nil) {
		t.Fatal("Stop before Start stopped something")
	}
	ran := make(chan struct{})
	if err := l.Start(nil, func(stopping <-chan struct{}) {
		close(ran)
		<-stopping
	}); err != nil {
		t.Fatal(err)
	}
	<-ran
	if err := l.Start(nil, func(<-chan struct{}) {}); !errors.Is(err, ErrStarted) {
		t.Fatalf("second Start = %v, want ErrStarted", err)
	}
	interrupted := false
	if !l.Stop(func() { interrupted = true }) || !interrupted || !l.StopRequested() {
		t.Fatal("Stop did not stop the worker, or did not interrupt it")
	}
	if l.Stop(nil) {
		t.Fatal("a second Stop stopped something")
	}
}

func TestPrepareFailureStartsNothing(t *testing.T) {
	var l Lifecycle
	boom := errors.New("boom")
	if err := l.Start(func() error { return boom }, func(<-chan struct{}) { t.Error("run ran") }); !errors.Is(err, boom) {
		t.Fatalf("Start = %v", err)
	}
	if l.Stop(nil) {
		t.Fatal("Stop after a failed Start stopped something")
	}
	if err := l.Start(nil, func(<-chan struct{}) {}); err != nil {
		t.Fatalf("Start after a failed prepare = %v", err)
	}
	l.Stop(nil)
}
