// Package bench is the scenario benchmark behind `archibald bench` (DESIGN.md §10): the
// ERP simulator, a SQLite store, the three sync services and the order worker in one
// process, with scaled ERP timings, creating orders while the services run.
//
// It measures three modes, each on a fresh simulator and store with the same seed, one
// after the other:
//
//   - idle: no sync runs while the orders are entered (the baseline);
//   - no-priority: the services run all the time and are never paused;
//   - priority: the services run all the time and each order pauses them through a
//     priority.Manager.
//
// The simulator is reached through its in-memory RoundTripper, not a socket: the HTTP
// client and the simulator's handler still run, but the machine's cores go to the work
// being measured rather than to the loopback network.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"slices"
	"sync"
	"time"

	"archibald/erpsim"
)

// Mode is one scenario.
type Mode string

// The modes, in the order Run measures them.
const (
	ModeIdle       Mode = "idle"        // no sync while the orders run
	ModeNoPriority Mode = "no-priority" // sync runs, nothing is paused
	ModePriority   Mode = "priority"    // sync runs, orders pause it
)

// AllModes lists the modes in the order Run measures them: the baseline first.
var AllModes = []Mode{ModeIdle, ModeNoPriority, ModePriority}

// ParseMode returns the mode named s.
func ParseMode(s string) (Mode, error) {
	for _, m := range AllModes {
		if string(m) == s {
			return m, nil
		}
	}
	return "", fmt.Errorf("unknown mode %q (want idle, no-priority or priority)", s)
}

// Transport names how the bench talks to the simulator; the report carries it.
const Transport = "in-memory (erpsim.RoundTripper)"

// Options configures Run. Zero values take the defaults given with each field.
type Options struct {
	Modes    []Mode        // the modes to measure, in this order; nil means AllModes
	Orders   int           // orders per mode; default 40
	Rate     float64       // orders submitted per second; default 1
	PageTime time.Duration // the simulator's service time of a list page; default 20ms
	StepTime time.Duration // the simulator's service time of an order step; default 80ms
	Seed     int64         // simulator data and order choices; default 1

	// Customers and Products size the simulator's data; defaults 1,200 and 4,500.
	Customers, Products int

	// SyncInterval is the sync services' interval in the sync modes (default 1s). They
	// also start a new run as soon as one finishes, so they never rest while measured.
	SyncInterval time.Duration
	// Grace is the priority manager's grace before preempting (default 10s).
	Grace time.Duration
	// OrderTimeout bounds each order from its acceptance (default 2m).
	OrderTimeout time.Duration
	// SettleTimeout bounds the final sync runs after the orders (default 3m).
	SettleTimeout time.Duration
	// SyncAlone is how long the services' throughput is measured with no orders, before
	// the orders start, in the sync modes (default 3s).
	SyncAlone time.Duration

	// Sweep measures the time to quiesce for each of SweepSizes product rows (default
	// 1,000, 10,000 and 100,000), taking SweepHolds holds (default 30) at random moments
	// while the products service runs. NoModes skips the modes (a sweep alone).
	Sweep      bool
	SweepSizes []int
	SweepHolds int
	NoModes    bool

	// Dir is where the SQLite files go; default a new temporary directory, removed at the
	// end.
	Dir    string
	Logger *slog.Logger // default discards
}

func (o Options) withDefaults() (Options, error) {
	if o.Modes == nil {
		o.Modes = AllModes
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&o.Orders, 40)
	def(&o.Customers, erpsim.DefaultCustomers)
	def(&o.Products, erpsim.DefaultProducts)
	def(&o.SweepHolds, 30)
	defDur(&o.PageTime, 20*time.Millisecond)
	defDur(&o.StepTime, 80*time.Millisecond)
	defDur(&o.SyncInterval, time.Second)
	defDur(&o.Grace, 10*time.Second)
	defDur(&o.OrderTimeout, 2*time.Minute)
	defDur(&o.SettleTimeout, 3*time.Minute)
	defDur(&o.SyncAlone, 3*time.Second)
	if o.Rate == 0 {
		o.Rate = 1
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.SweepSizes == nil {
		o.SweepSizes = []int{1000, 10000, 100000}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case o.Orders < 0:
		return o, fmt.Errorf("bench: Orders must be at least 1, got %d", o.Orders)
	case math.IsNaN(o.Rate) || math.IsInf(o.Rate, 0) || o.Rate < 0:
		return o, fmt.Errorf("bench: Rate must be a positive number of orders a second, got %v", o.Rate)
	case o.PageTime < 0 || o.StepTime < 0:
		return o, fmt.Errorf("bench: PageTime and StepTime must not be negative, got %v and %v", o.PageTime, o.StepTime)
	case o.Customers < 0 || o.Products < 0:
		return o, fmt.Errorf("bench: Customers and Products must not be negative, got %d and %d", o.Customers, o.Products)
	case o.SyncInterval < 0 || o.Grace < 0 || o.OrderTimeout < 0 || o.SettleTimeout < 0:
		return o, errors.New("bench: SyncInterval, Grace, OrderTimeout and SettleTimeout must not be negative")
	case o.SweepHolds < 0:
		return o, fmt.Errorf("bench: SweepHolds must be at least 1, got %d", o.SweepHolds)
	case !o.NoModes && len(o.Modes) == 0:
		return o, errors.New("bench: no mode to measure")
	case o.NoModes && !o.Sweep:
		return o, errors.New("bench: nothing to do: no mode and no sweep")
	}
	for _, m := range o.Modes {
		if _, err := ParseMode(string(m)); err != nil {
			return o, fmt.Errorf("bench: %w", err)
		}
	}
	for _, n := range o.SweepSizes {
		if n < 1 {
			return o, fmt.Errorf("bench: a sweep size must be at least 1 product row, got %d", n)
		}
	}
	return o, nil
}

// Report is what Run measured. Its JSON is what `archibald bench --json` prints.
type Report struct {
	PageTimeMs float64      `json:"pageTimeMs"`
	StepTimeMs float64      `json:"stepTimeMs"`
	Transport  string       `json:"transport"`
	Modes      []ModeReport `json:"modes"`
	Sweep      []SweepPoint `json:"sweep,omitempty"`
	// Checks are the targets of DESIGN.md §10 that the measured modes allow to check.
	Checks []Check `json:"checks,omitempty"`
}

// ModeReport is one mode's figures.
type ModeReport struct {
	Mode      Mode        `json:"mode"`
	Orders    OrderCounts `json:"orders"`
	LatencyMs Latency     `json:"latencyMs"` // from Submit to the order's outcome
	// QuiesceMs is the time to quiesce of the pauses the orders took; null in the modes
	// that pause nothing.
	QuiesceMs      *Quiesce `json:"quiesceMs"`
	ViewLost       int64    `json:"viewLost"`       // order steps the ERP answered view_lost
	SyncRowsPerSec float64  `json:"syncRowsPerSec"` // rows the services read while the orders ran
	// SyncAloneRowsPerSec is what the services read with no orders, beside
	// ERPRowsPerSec, what one ERP session can serve: a page of rows a page time.
	SyncAloneRowsPerSec float64 `json:"syncAloneRowsPerSec"`
	ERPRowsPerSec       float64 `json:"erpRowsPerSec"`
	MirrorMatches       bool    `json:"mirrorMatches"` // the mirror equals the ERP after the final runs
	// MirrorDiff says how the mirror differs from the ERP when MirrorMatches is false.
	MirrorDiff string `json:"mirrorDiff,omitempty"`
	// Failures lists the distinct reasons of the failed orders, with their counts.
	Failures []Failure `json:"failures,omitempty"`
	WindowMs float64   `json:"windowMs"` // from the first submit to the last outcome
	SettleMs float64   `json:"settleMs"` // the final runs after the orders
	FillMs   float64   `json:"fillMs"`   // the initial fill of the mirror
}

// OrderCounts counts the orders' outcomes.
type OrderCounts struct {
	Created int `json:"created"`
	Failed  int `json:"failed"`
}

// Latency gives nearest-rank percentiles in milliseconds, to 0.1 ms.
type Latency struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// Quiesce gives the time to quiesce in milliseconds, to 0.1 ms, over Count pauses.
type Quiesce struct {
	P50   float64 `json:"p50"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
	Count int     `json:"count"`
}

// Failure is one reason orders failed for, and how many did.
type Failure struct {
	Error string `json:"error"`
	Count int    `json:"count"`
}

// SweepPoint is the time to quiesce with a given number of product rows.
type SweepPoint struct {
	Products  int     `json:"products"`
	QuiesceMs Quiesce `json:"quiesceMs"`
	// MirrorRows is the mirror's product rows when the holds began; ERPProducts the
	// simulator's, at most 50,000: erpsim cannot generate more (see runSweep); past
	// that the mirror holds copies of the simulator's rows under other ids.
	MirrorRows  int `json:"mirrorRows"`
	ERPProducts int `json:"erpProducts"`
	// PageAtFirstHold and PageAtLastHold show where the products run was when the
	// holds were taken (the last page committed).
	PageAtFirstHold int `json:"pageAtFirstHold"`
	PageAtLastHold  int `json:"pageAtLastHold"`
	TotalPages      int `json:"totalPages"`
}

// Check is one target and whether the measurement meets it.
type Check struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Limit float64 `json:"limit"`
	Pass  bool    `json:"pass"`
}

// Run measures the modes of o (and the sweep when o.Sweep), writing a progress line to
// progress (nil: none). It returns an error when the scenario could not be run, not when
// the figures miss a target: those are in the report.
func Run(ctx context.Context, o Options, progress io.Writer) (Report, error) {
	o, err := o.withDefaults()
	if err != nil {
		return Report{}, err
	}
	if progress == nil {
		progress = io.Discard
	}
	p := &progressLine{w: progress}
	rep := Report{
		PageTimeMs: ms(o.PageTime),
		StepTimeMs: ms(o.StepTime),
		Transport:  Transport,
		Modes:      []ModeReport{},
	}
	if !o.NoModes {
		for _, m := range o.Modes {
			mr, err := runMode(ctx, o, m, p)
			p.end()
			if err != nil {
				return rep, fmt.Errorf("bench: mode %s: %w", m, err)
			}
			rep.Modes = append(rep.Modes, mr)
		}
		rep.Checks = checks(o, rep.Modes)
	}
	if o.Sweep {
		for _, n := range o.SweepSizes {
			sp, err := runSweep(ctx, o, n, p)
			p.end()
			if err != nil {
				return rep, fmt.Errorf("bench: sweep with %d products: %w", n, err)
			}
			rep.Sweep = append(rep.Sweep, sp)
		}
	}
	return rep, nil
}

// checks compares the figures with the targets of DESIGN.md §10 and the issue.
func checks(o Options, modes []ModeReport) []Check {
	find := func(m Mode) *ModeReport {
		for i := range modes {
			if modes[i].Mode == m {
				return &modes[i]
			}
		}
		return nil
	}
	pr := find(ModePriority)
	if pr == nil {
		return nil
	}
	b := func(ok bool) float64 {
		if ok {
			return 1
		}
		return 0
	}
	out := []Check{
		{Name: "priority: failed orders", Value: float64(pr.Orders.Failed), Limit: 0, Pass: pr.Orders.Failed == 0},
		{Name: "priority: view losses", Value: float64(pr.ViewLost), Limit: 0, Pass: pr.ViewLost == 0},
		{Name: "priority: mirror matches the ERP", Value: b(pr.MirrorMatches), Limit: 1, Pass: pr.MirrorMatches},
	}
	if q := pr.QuiesceMs; q != nil {
		limit := ms(o.PageTime + 5*time.Millisecond)
		out = append(out, Check{Name: "priority: quiesce p99 ≤ page time + 5 ms", Value: q.P99, Limit: limit, Pass: q.P99 <= limit})
	}
	if pr.ERPRowsPerSec > 0 {
		limit := round1(0.9 * pr.ERPRowsPerSec)
		out = append(out, Check{Name: "priority: sync rows/s with no orders ≥ 0.9 × what the ERP serves",
			Value: pr.SyncAloneRowsPerSec, Limit: limit, Pass: pr.SyncAloneRowsPerSec >= limit})
	}
	if idle := find(ModeIdle); idle != nil {
		limit := round1(idle.LatencyMs.P95 * 1.10)
		out = append(out, Check{Name: "priority: order p95 ≤ 1.10 × idle p95", Value: pr.LatencyMs.P95, Limit: limit,
			Pass: pr.LatencyMs.P95 <= limit})
	}
	return out
}

// percentile returns the nearest-rank p-th percentile of sorted (not empty).
func percentile(sorted []time.Duration, p float64) time.Duration {
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

func latencyOf(samples []time.Duration) Latency {
	if len(samples) == 0 {
		return Latency{}
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	return Latency{
		P50: ms(percentile(s, 50)), P95: ms(percentile(s, 95)),
		P99: ms(percentile(s, 99)), Max: ms(s[len(s)-1]),
	}
}

func quiesceOf(samples []time.Duration) Quiesce {
	if len(samples) == 0 {
		return Quiesce{}
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	return Quiesce{P50: ms(percentile(s, 50)), P99: ms(percentile(s, 99)), Max: ms(s[len(s)-1]), Count: len(s)}
}

// ms converts d to milliseconds rounded to 0.1.
func ms(d time.Duration) float64 { return round1(float64(d) / float64(time.Millisecond)) }

func round1(x float64) float64 { return math.Round(x*10) / 10 }

// progressLine rewrites one line on a terminal (carriage return, no newline) with the
// bench's progress.
type progressLine struct {
	w io.Writer

	mu   sync.Mutex
	last int // length of the last line written, to blank what a shorter line leaves
	open bool
}

func (p *progressLine) set(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	line := "bench: " + fmt.Sprintf(format, args...)
	pad := max(p.last-len(line), 0)
	fmt.Fprintf(p.w, "\r%s%*s", line, pad, "")
	p.last, p.open = len(line), true
}

// end ends the line, so that what follows starts on a new one.
func (p *progressLine) end() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.open {
		fmt.Fprintln(p.w)
		p.last, p.open = 0, false
	}
}
