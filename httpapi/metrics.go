package httpapi

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"archibald"
	"archibald/orders"
	"archibald/priority"
	"archibald/syncer"
)

// metrics are the series the fan-out goroutine updates from events. The state of the
// manager and of the sync services is read at scrape time instead, so it is never stale.
type metrics struct {
	quiesce       prometheus.Histogram
	paused        prometheus.Histogram
	preemptions   prometheus.Counter
	orders        *prometheus.CounterVec
	orderDuration prometheus.Histogram
	eventsDropped prometheus.Counter
	sseDropped    prometheus.Counter

	// owned by the fan-out goroutine, the only caller of observePriority
	allPaused bool // an EventPaused came after the last EventResumed
}

func newMetrics(s *Server) (*prometheus.Registry, *metrics) {
	reg := prometheus.NewRegistry()
	m := &metrics{
		quiesce: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "archibald_priority_quiesce_seconds",
			Help:    "Time from the first hold to every background service paused.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
		paused: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "archibald_priority_paused_seconds",
			Help:    "Time the background services stayed paused, per pause.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2.5, 12),
		}),
		preemptions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "archibald_priority_preemptions_total",
			Help: "Batches preempted because a service was still busy after the grace period.",
		}),
		orders: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "archibald_orders_total",
			Help: "Orders that reached an outcome, by status (created or failed).",
		}, []string{"status"}),
		orderDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "archibald_order_duration_seconds",
			Help:    "Time from an order's acceptance to its outcome.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 14),
		}),
		eventsDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "archibald_http_events_dropped_total",
			Help: "Sync and order events dropped because the event fan-out lagged behind.",
		}),
		sseDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "archibald_http_sse_clients_dropped_total",
			Help: "Event-stream clients disconnected because they read too slowly.",
		}),
	}
	for _, st := range []archibald.OrderStatus{archibald.OrderCreated, archibald.OrderFailed} {
		m.orders.WithLabelValues(string(st)) // present at zero from the start
	}
	mgr := s.cfg.Manager
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.quiesce, m.paused, m.preemptions, m.orders, m.orderDuration, m.eventsDropped, m.sseDropped,
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "archibald_priority_pauses_total",
			Help: "Completed pauses of the background services.",
		}, func() float64 { return float64(mgr.Status().Pauses) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "archibald_priority_holders",
			Help: "Holds on the priority manager now (orders and operators).",
		}, func() float64 { return float64(mgr.Status().Holders) }),
		&syncCollector{syncs: s.cfg.Syncs},
	)
	return reg, m
}

func (m *metrics) observePriority(ev priority.Event) {
	switch ev.Kind {
	case priority.EventPaused:
		m.quiesce.Observe(ev.Took.Seconds())
		m.allPaused = true
	case priority.EventResumed:
		// A pause abandoned before every service was paused also ends with
		// EventResumed; only a real pause counts as time spent paused.
		if m.allPaused {
			m.paused.Observe(ev.Took.Seconds())
		}
		m.allPaused = false
	case priority.EventPreempted:
		m.preemptions.Inc()
	}
}

func (m *metrics) observeOrder(ev orders.Event) {
	switch ev.Kind {
	case orders.EventCreated, orders.EventFailed:
		m.orders.WithLabelValues(string(ev.Order.Status)).Inc()
		if d := ev.Order.UpdatedAt.Sub(ev.Order.CreatedAt); d >= 0 {
			m.orderDuration.Observe(d.Seconds())
		}
	}
}

func (s *Server) handleMetrics() http.HandlerFunc {
	h := promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{ErrorLog: slogPrintln{s}})
	return h.ServeHTTP
}

// slogPrintln adapts the logger to promhttp's ErrorLog.
type slogPrintln struct{ s *Server }

func (l slogPrintln) Println(v ...any) { l.s.log.Error("serving metrics", "err", v) }

var syncStates = []string{syncer.StateIdle, syncer.StateRunning, syncer.StatePaused, syncer.StateWaiting}

var (
	syncStateDesc = prometheus.NewDesc("archibald_sync_state",
		"1 for the sync service's current state, 0 for the others.", []string{"service", "state"}, nil)
	syncRowsDesc = prometheus.NewDesc("archibald_sync_rows",
		"Rows of the current or last run, by what happened to them.", []string{"service", "kind"}, nil)
	syncMirrorDesc = prometheus.NewDesc("archibald_sync_mirror_rows",
		"Rows the mirror holds for the service's entity.", []string{"service"}, nil)
)

// syncCollector reads the services' Status at scrape time.
type syncCollector struct{ syncs []SyncService }

func (c *syncCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- syncStateDesc
	ch <- syncRowsDesc
	ch <- syncMirrorDesc
}

func (c *syncCollector) Collect(ch chan<- prometheus.Metric) {
	for _, svc := range c.syncs {
		st := svc.Status()
		for _, state := range syncStates {
			v := 0.0
			if st.State == state {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(syncStateDesc, prometheus.GaugeValue, v, st.Name, state)
		}
		for kind, n := range map[string]int{"seen": st.Rows.Seen, "inserted": st.Rows.Inserted,
			"updated": st.Rows.Updated, "deleted": st.Rows.Deleted} {
			ch <- prometheus.MustNewConstMetric(syncRowsDesc, prometheus.GaugeValue, float64(n), st.Name, kind)
		}
		ch <- prometheus.MustNewConstMetric(syncMirrorDesc, prometheus.GaugeValue, float64(st.MirrorRows), st.Name)
	}
}
