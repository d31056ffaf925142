package main

import (
	"context"
	"fmt"
	"io"
	"strings"
)

// run performs the run cfg describes, writes its report to stdout (the
// progress bar to stderr) and ends the report with "PASS" or
// "FAIL: <reason>". It returns nil only on PASS.
func run(ctx context.Context, cfg Config, stdout, stderr io.Writer) error {
	var err error
	if cfg.Conformance {
		err = runConformance(ctx, cfg, stdout)
	} else {
		err = runLoad(ctx, cfg, stdout, stderr)
	}
	if err != nil {
		fmt.Fprintf(stdout, "FAIL: %s\n", strings.Join(strings.Fields(err.Error()), " "))
		return err
	}
	fmt.Fprintln(stdout, "PASS")
	return nil
}
