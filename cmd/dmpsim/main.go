// Command dmpsim behaves like the DMP towards a DIY endpoint (this
// project's or anyone's), to measure it and to check it.
//
// In load mode (the default) it checks the endpoint is alive, validates
// it, creates audiences, then streams ADD_TO_AUDIENCE and
// REMOVE_FROM_AUDIENCE calls for many users, customers and audiences,
// micro-batched and signed as the DMP does. It reports requests, statuses
// and latency percentiles per call against the DMP's targets and, with
// -verify, compares every audience in Pangolin with the state the
// simulated DMP expects.
//
// With -conformance it checks only the endpoint's answers to the
// protocol's calls, good and bad, for endpoints whose platform it cannot
// read.
//
// The output ends with a line "PASS" or "FAIL: <reason>"; the exit status
// is 0 on PASS, 1 on FAIL and 2 for unusable settings.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	cfg, err := parseConfig(os.Args[1:], os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Printf("FAIL: %v\n", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err = run(ctx, cfg, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		os.Exit(1)
	}
}
