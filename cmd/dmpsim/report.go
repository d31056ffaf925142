package main

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Target is a latency the DMP expects of a call: its 99th percentile must
// be under P99.
type Target struct {
	Type string
	P99  time.Duration
}

// Targets are the DMP's latency targets.
var Targets = []Target{
	{callAdd, time.Second},
	{callRemove, time.Second},
	{callCreate, 3 * time.Second},
}

// maxExamples is how many missing or unexpected members a report names.
const maxExamples = 3

// Report is what a load run did and whether it passed.
type Report struct {
	Endpoint      string // redacted
	Seed          int64
	Customers     int
	Audiences     int
	Users         int
	Workers       int
	BatchSize     int
	BatchInterval time.Duration
	Rate          float64

	BaselineAudiences, BaselineMembers int
	Stream                             *StreamResult // nil when streaming never started
	Types                              []TypeSummary
	PangolinURL                        string
	Verify                             *VerifyResult // nil when not run
	VerifyNote                         string        // why verify did not run, or how it ended

	failures []string
}

// Fail records a reason the run failed.
func (r *Report) Fail(format string, args ...any) {
	r.failures = append(r.failures, oneLine(fmt.Sprintf(format, args...)))
}

// ErrRunFailed is matched (errors.Is) by the error of a run that did not
// pass.
var ErrRunFailed = errors.New("the run failed")

// runError lists the reasons a run failed.
type runError struct{ reasons []string }

func (e *runError) Error() string        { return strings.Join(e.reasons, "; ") }
func (e *runError) Is(target error) bool { return target == ErrRunFailed }

// Err is nil when the run passed, else an error naming every reason.
func (r *Report) Err() error {
	if len(r.failures) == 0 {
		return nil
	}
	return &runError{reasons: r.failures}
}

// TargetResult is one latency target checked.
type TargetResult struct {
	Target
	Got time.Duration
	OK  bool
}

// CheckTargets compares the summaries with the DMP's targets; call types
// that were not sent are left out.
func CheckTargets(types []TypeSummary) []TargetResult {
	var out []TargetResult
	for _, t := range Targets {
		i := slices.IndexFunc(types, func(s TypeSummary) bool { return s.Type == t.Type })
		if i < 0 || types[i].Requests == 0 {
			continue
		}
		out = append(out, TargetResult{Target: t, Got: types[i].P99, OK: types[i].P99 < t.P99})
	}
	return out
}

// Evaluate records as failures every missed latency target and every
// audience that differs.
func (r *Report) Evaluate() {
	for _, t := range CheckTargets(r.Types) {
		if !t.OK {
			r.Fail("%s p99 %s is not under the %s target", t.Type, fmtDur(t.Got), t.P99)
		}
	}
	if r.Verify != nil {
		if n := r.Verify.Differences(); n > 0 {
			r.Fail("%d of %d audiences differ in Pangolin from the expected state", n,
				len(r.Verify.Checks))
		}
	}
}

// Write prints the report; the caller prints the verdict line.
func (r *Report) Write(w io.Writer) {
	fmt.Fprintf(w, "dmpsim load run against %s (seed %d)\n", r.Endpoint, r.Seed)
	fmt.Fprintf(w, "workload: %d customers, %d audiences, %d users, %d workers, "+
		"batches of %d users or %s, rate %s\n", r.Customers, r.Audiences, r.Users, r.Workers,
		r.BatchSize, r.BatchInterval, fmtRate(r.Rate))
	if r.BaselineMembers > 0 {
		fmt.Fprintf(w, "baseline: %d audiences already had %d members in Pangolin; "+
			"the expected state starts from them\n", r.BaselineAudiences, r.BaselineMembers)
	}
	if s := r.Stream; s != nil {
		gen := s.Generated[Add] + s.Generated[Remove]
		acked := s.Acked[Add] + s.Acked[Remove]
		fmt.Fprintf(w, "streamed: %d mutations (%d ADD, %d REMOVE) in %s, %.0f/s; "+
			"%d requests (%.1f mutations each), %d retries, %d mutations skipped by the endpoint\n",
			gen, s.Generated[Add], s.Generated[Remove], fmtDur(s.Took), perSecond(acked, s.Took),
			s.Requests, perRequest(acked, s.Requests), retries(r.Types), s.Skipped)
	}
	fmt.Fprintln(w)
	writeTypes(w, r.Types)
	writeTargets(w, CheckTargets(r.Types))
	r.writeVerify(w)
}

func writeTypes(w io.Writer, types []TypeSummary) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "call\trequests\tretries\tstatuses\tp50\tp95\tp99\tmax")
	for _, t := range types {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\n", t.Type, t.Requests, t.Retries,
			fmtStatuses(t.Statuses), fmtDur(t.P50), fmtDur(t.P95), fmtDur(t.P99), fmtDur(t.Max))
	}
	tw.Flush()
	fmt.Fprintln(w)
}

func writeTargets(w io.Writer, results []TargetResult) {
	if len(results) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "target\tp99\tunder\tresult")
	for _, t := range results {
		verdict := "ok"
		if !t.OK {
			verdict = "MISSED"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.Type, fmtDur(t.Got), t.P99, verdict)
	}
	tw.Flush()
	fmt.Fprintln(w)
}

func (r *Report) writeVerify(w io.Writer) {
	v := r.Verify
	if v == nil {
		fmt.Fprintf(w, "verify: %s\n", r.VerifyNote)
		return
	}
	state := "all match"
	if n := v.Differences(); n > 0 {
		state = fmt.Sprintf("%d differ", n)
	}
	fmt.Fprintf(w, "verify against Pangolin at %s: %d audiences, %s after %s (%d comparisons)\n",
		r.PangolinURL, len(v.Checks), state, fmtDur(v.Took), v.Rounds)
	if r.VerifyNote != "" {
		fmt.Fprintf(w, "verify: %s\n", r.VerifyNote)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "audience\tcustomer\tpangolin id\texpected\tactual\tmissing\tunexpected")
	for _, c := range v.Checks {
		id := c.PangolinID
		if id == "" {
			id = "(not found)"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%d\t%d\t%d\n", c.Audience.DMPID, c.Audience.Customer,
			id, c.Expected, c.Actual, len(c.Missing), len(c.Unexpected))
	}
	tw.Flush()
	for _, c := range v.Checks {
		if len(c.Missing) > 0 {
			fmt.Fprintf(w, "  %s missing, e.g. %s\n", c.Audience.DMPID, examples(c.Missing))
		}
		if len(c.Unexpected) > 0 {
			fmt.Fprintf(w, "  %s unexpected, e.g. %s\n", c.Audience.DMPID, examples(c.Unexpected))
		}
	}
	fmt.Fprintln(w)
}

func examples(ids []string) string {
	return strings.Join(ids[:min(len(ids), maxExamples)], ", ")
}

func retries(types []TypeSummary) int {
	n := 0
	for _, t := range types {
		n += t.Retries
	}
	return n
}

func fmtStatuses(m map[int]int) string {
	codes := make([]int, 0, len(m))
	for c := range m {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	parts := make([]string, len(codes))
	for i, c := range codes {
		name := strconv.Itoa(c)
		if c == statusNetError {
			name = "no-answer"
		}
		parts[i] = fmt.Sprintf("%s×%d", name, m[c])
	}
	return strings.Join(parts, " ")
}

// fmtDur prints a latency to a useful precision.
func fmtDur(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return d.Round(100 * time.Millisecond).String()
	case d >= time.Second:
		return d.Round(time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(100 * time.Microsecond).String()
	}
	return d.Round(time.Microsecond).String()
}

func fmtRate(r float64) string {
	if r <= 0 {
		return "unlimited"
	}
	return fmt.Sprintf("%g mutations/s", r)
}

func perRequest(mutations, requests int) float64 {
	if requests == 0 {
		return 0
	}
	return float64(mutations) / float64(requests)
}

func perSecond(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}
