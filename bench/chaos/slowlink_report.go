package main

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/bulkinvite/bulkinvite/flowmingo/sandbox"
	"github.com/bulkinvite/bulkinvite/internal/store"
)

// slowLinkResult is what the slowlink scenario measured.
type slowLinkResult struct {
	Rate    float64
	Burst   int
	Workers int
	Latency time.Duration // on worker 1's Redis link during the slow phase
	Built   string        // what the workers were built from

	Phases []slowLinkPhase
	// First is the first request's arrival at the sandbox; Requests counts all
	// of them, Busiest is the most in any 1-second window [t, t+1s) over the
	// whole run, starting at BusiestAt.
	First     time.Time
	Requests  int
	Busiest   int
	BusiestAt time.Time

	Batch store.Status
	Notes []string
}

// slowLinkPhase is one phase of the run, by the local clock (the sandbox runs
// on the same machine).
type slowLinkPhase struct {
	Name     string
	From, To time.Time
	// PerWorker is what each worker sent during the phase, counted by its API proxy.
	PerWorker []int64
	sent      []int64 // the proxies' counts at From
	// Requests arrived at the sandbox in [From, To); Busiest the most in a
	// 1-second window inside the phase, starting at BusiestAt.
	Requests  int
	Busiest   int
	BusiestAt time.Time
}

// limit is what the vendor allows in any second, all workers together:
// rate + burst requests (GCRA's bound for a 1-second window).
func (r *slowLinkResult) limit() int { return int(math.Floor(r.Rate+1e-9)) + r.Burst }

// analyze computes the figures from every request the sandbox recorded.
func (r *slowLinkResult) analyze(recs []sandbox.RequestRecord) {
	ts := make([]time.Time, len(recs))
	for i, rec := range recs {
		ts[i] = rec.At
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
	r.Requests = len(ts)
	if len(ts) > 0 {
		r.First = ts[0]
	}
	r.Busiest, r.BusiestAt = sandbox.Busiest(ts, time.Second)
	for i := range r.Phases {
		p := &r.Phases[i]
		lo := sort.Search(len(ts), func(k int) bool { return !ts[k].Before(p.From) })
		hi := sort.Search(len(ts), func(k int) bool { return !ts[k].Before(p.To) })
		p.Requests = hi - lo
		p.Busiest, p.BusiestAt = sandbox.Busiest(ts[lo:hi], time.Second)
	}
}

// check fails when the vendor saw more than rate + burst in some second.
func (r *slowLinkResult) check() error {
	if r.Busiest > r.limit() {
		return fmt.Errorf("the vendor saw %d requests in one second (from %s), more than rate + burst = %d",
			r.Busiest, r.offset(r.BusiestAt), r.limit())
	}
	return nil
}

// offset is t as seconds after the first request.
func (r *slowLinkResult) offset(t time.Time) string {
	return fmt.Sprintf("t+%.1fs", t.Sub(r.First).Seconds())
}

// print writes the figures as a table.
func (r *slowLinkResult) print(w io.Writer) {
	fmt.Fprintf(w, "\nslowlink: %d workers at BULKINVITE_RATE=%g, BULKINVITE_BURST=%d, built from %s; worker 1's Redis link %v a packet, either way, in the slow phase\n",
		r.Workers, r.Rate, r.Burst, r.Built, r.Latency)
	fmt.Fprintf(w, "the vendor allows %d requests in any second (rate + burst), all workers together\n\n", r.limit())
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := []string{"phase", "from", "span", "requests", "mean/s", "busiest 1 s"}
	for i := range r.Workers {
		head = append(head, fmt.Sprintf(slowLinkWorkers, i+1))
	}
	fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
	for _, p := range r.Phases {
		span := p.To.Sub(p.From)
		row := []string{p.Name, r.offset(p.From), fmt.Sprintf("%.1fs", span.Seconds()), fmt.Sprint(p.Requests),
			fmt.Sprintf("%.2f", float64(p.Requests)/span.Seconds()), fmt.Sprintf("%d at %s", p.Busiest, r.offset(p.BusiestAt))}
		for _, n := range p.PerWorker {
			row = append(row, fmt.Sprint(n))
		}
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
	}
	fmt.Fprintf(tw, "whole run\t\t\t%d\t\t%d at %s\t\n", r.Requests, r.Busiest, r.offset(r.BusiestAt))
	_ = tw.Flush()
	b := r.Batch
	fmt.Fprintf(w, "\nbatch %s: %d candidates, %d invited, %d dead-lettered, %d pending when the workers stopped\n",
		slowLinkBatch, b.Accepted, b.Invited, b.DeadLettered, b.Pending)
	for _, n := range r.Notes {
		fmt.Fprintln(w, "note:", n)
	}
	if err := r.check(); err != nil {
		fmt.Fprintln(w, "FAIL:", err)
		return
	}
	fmt.Fprintf(w, "PASS: no 1-second window above %d (busiest %d)\n", r.limit(), r.Busiest)
}
