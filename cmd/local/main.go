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
	"errors"
	"flag"
	"fmt"
	"io"
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

	switch err := parseArgs(os.Args[1:], os.Stderr); {
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case err != nil:
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "local:", err)
		os.Exit(1)
	}
}

// usage lists the settings, all of which are environment variables.
const usage = `Usage: go run ./cmd/local

Runs diy, forward, the Pub/Sub fake, the mapping store and Pangolin on
127.0.0.1 until SIGINT or SIGTERM, then forwards what is queued and exits.
It takes no arguments; every setting is an environment variable:

  PORT                       [8080] port of the diy endpoint
  PANGOLIN_PORT              [8081] port of the local Pangolin
  PANGOLIN_URL               [the local Pangolin] use another Pangolin
  PANGOLIN_API_KEY           [dev-pangolin-key] key the integration uses
  DIY_HMAC_SECRET            [dev-hmac-secret] secret shared with the DMP
                             (set but empty: every POST is refused)
  DIY_HMAC_SECRET_PREVIOUS   [unset] secret being retired in a rotation
  DIY_BASIC_AUTH_USER, DIY_BASIC_AUTH_PASSWORD
                             [unset] when both are set, Basic Auth is required
  DIY_RETURN_PLATFORM_ID     [true] answer CREATE_AUDIENCE with Pangolin's ID
  DIY_DATA_DIR               [.diy-local] embedded store and Pangolin's state
  PANGOLIN_RATE_LIMIT, PANGOLIN_BURST, PANGOLIN_FAILURE_RATE, PANGOLIN_LATENCY
                             [off] faults of the local Pangolin
  DIY_DRAIN_TIMEOUT          [1m] how long a stop waits for queued messages

Example: DIY_DATA_DIR=/tmp/diy PORT=9080 PANGOLIN_PORT=9081 go run ./cmd/local
`

// parseArgs answers -h with the usage and refuses any argument, so that a
// mistyped setting is not silently ignored.
func parseArgs(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("local", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "local: unexpected argument %q: settings are environment variables (see -h)\n", fs.Arg(0))
		return errors.New("unexpected argument")
	}
	return nil
}
