package bench

import (
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
)

// WriteTable writes the report as tables a person can read.
func (r Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "ERP timings: page %s ms, order step %s ms; simulator reached %s\n\n",
		num(r.PageTimeMs), num(r.StepTimeMs), r.Transport)
	if len(r.Modes) > 0 {
		fmt.Fprintln(tw, "mode\tcreated\tfailed\tp50 ms\tp95 ms\tp99 ms\tmax ms\tquiesce p50\tquiesce p99\tview lost\tsync rows/s\talone rows/s\tmirror\t")
		for _, m := range r.Modes {
			qp50, qp99 := "-", "-"
			if m.QuiesceMs != nil {
				qp50, qp99 = num(m.QuiesceMs.P50), num(m.QuiesceMs.P99)
			}
			mirror := "matches"
			if !m.MirrorMatches {
				mirror = "DIFFERS"
			}
			alone := "-"
			if m.ERPRowsPerSec > 0 {
				alone = num(m.SyncAloneRowsPerSec) + " of " + num(m.ERPRowsPerSec)
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t\n",
				m.Mode, m.Orders.Created, m.Orders.Failed,
				num(m.LatencyMs.P50), num(m.LatencyMs.P95), num(m.LatencyMs.P99), num(m.LatencyMs.Max),
				qp50, qp99, m.ViewLost, num(m.SyncRowsPerSec), alone, mirror)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		for _, m := range r.Modes {
			fmt.Fprintf(w, "\n%s: fill %s ms, orders %s ms, final sync runs %s ms", m.Mode, num(m.FillMs), num(m.WindowMs), num(m.SettleMs))
			if m.QuiesceMs != nil {
				fmt.Fprintf(w, ", %d pauses (quiesce max %s ms)", m.QuiesceMs.Count, num(m.QuiesceMs.Max))
			}
			fmt.Fprintln(w)
			for _, f := range m.Failures {
				fmt.Fprintf(w, "  %d× %s\n", f.Count, f.Error)
			}
			if m.MirrorDiff != "" {
				fmt.Fprintf(w, "  %s\n", m.MirrorDiff)
			}
		}
	}
	if len(r.Checks) > 0 {
		fmt.Fprintln(w, "\nTargets:")
		for _, c := range r.Checks {
			verdict := "pass"
			if !c.Pass {
				verdict = "FAIL"
			}
			fmt.Fprintf(w, "  %-4s  %s: %s (limit %s)\n", verdict, c.Name, num(c.Value), num(c.Limit))
		}
	}
	if len(r.Sweep) > 0 {
		fmt.Fprintln(w, "\nTime to quiesce as the data grows (products service mid-run):")
		fmt.Fprintln(tw, "products\tmirror rows\terp rows\terp pages\tholds\tquiesce p50 ms\tquiesce p99 ms\tmax ms\tpages at the holds\t")
		for _, s := range r.Sweep {
			fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%d–%d\t\n", s.Products, s.MirrorRows, s.ERPProducts, s.TotalPages, s.QuiesceMs.Count,
				num(s.QuiesceMs.P50), num(s.QuiesceMs.P99), num(s.QuiesceMs.Max), s.PageAtFirstHold, s.PageAtLastHold)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

func num(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }
