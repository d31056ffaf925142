package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progress shows acknowledged mutations on a terminal.
type progress struct {
	bar *progressbar.ProgressBar // nil: no bar
	out io.Writer
}

// newProgress returns a bar of total mutations (-1: unknown) written to
// out, or a silent one when off is set or out is not a terminal.
func newProgress(out io.Writer, total int, off bool) *progress {
	if off || !isTerminal(out) {
		return &progress{}
	}
	bar := progressbar.NewOptions(total,
		progressbar.OptionSetWriter(out),
		progressbar.OptionSetDescription("streaming"),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("mutations"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
	)
	return &progress{bar: bar, out: out}
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Add counts n more acknowledged mutations. Safe for concurrent use.
func (p *progress) Add(n int) {
	if p.bar != nil {
		_ = p.bar.Add(n) // a bar that cannot draw is no reason to stop
	}
}

// Done leaves the bar as it is and ends its line.
func (p *progress) Done() {
	if p.bar != nil {
		_ = p.bar.Exit()
		fmt.Fprintln(p.out)
	}
}
