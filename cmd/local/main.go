// Command local runs the whole integration on this machine: the diy and
// forward functions served by the Functions Framework, the official
// in-memory Pub/Sub fake laid out as in production, an embedded mapping
// store, and a Pangolin server. Every setting has a default that works
// out of the box; see README.md.
//
//	go run ./cmd/local
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	_ "github.com/dmp-diy/diy" // registers the diy and forward functions
)

func main() {
	// Google's client libraries must never look for the GCE metadata
	// server from a local run.
	os.Setenv("GCE_METADATA_HOST", "127.0.0.1:9")
	os.Setenv("METADATA_SERVER_DETECTION", "none")

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "local:", err)
		os.Exit(1)
	}
}
