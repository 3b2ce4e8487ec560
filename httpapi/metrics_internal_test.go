package httpapi

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"archibald/priority"
)

func sampleCount(t *testing.T, h prometheus.Histogram) (uint64, float64) {
	t.Helper()
	var m dto.Metric
	if err := h.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum()
}

// TestAbandonedPauseIsNotTimeSpentPaused: a pause whose holders all left before the
// services were paused ends with EventResumed too; it must not count as time paused.
func TestAbandonedPauseIsNotTimeSpentPaused(t *testing.T) {
	_, m := newMetrics(&Server{})
	for _, ev := range []priority.Event{
		{Kind: priority.EventPausing},
		{Kind: priority.EventResumed, Took: 3 * time.Second}, // abandoned
		{Kind: priority.EventPausing},
		{Kind: priority.EventPaused, Took: 10 * time.Millisecond},
		{Kind: priority.EventResumed, Took: 500 * time.Millisecond},
	} {
		m.observePriority(ev)
	}
	if n, sum := sampleCount(t, m.paused); n != 1 || sum != 0.5 {
		t.Fatalf("paused time: %d samples summing %vs, want the one real pause of 0.5s", n, sum)
	}
	if n, _ := sampleCount(t, m.quiesce); n != 1 {
		t.Fatalf("%d quiesce samples, want 1", n)
	}
}
