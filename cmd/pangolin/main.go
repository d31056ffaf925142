// Command pangolin runs the Pangolin API server, a stand-in for a
// third-party ad platform, on 127.0.0.1.
//
// Settings come from flags, each with an environment variable as fallback;
// run "pangolin -h" for the list. Logs are JSON lines on stderr with the
// field names Cloud Logging reads (severity, message). On SIGINT or SIGTERM
// the server stops taking requests, finishes those in progress, saves its
// state and exits.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/dmp-diy/diy/pangolin"
)

// shutdownTimeout bounds how long requests in progress may take at shutdown.
const shutdownTimeout = 10 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case errors.Is(err, errUsage):
		os.Exit(2)
	case err != nil:
		os.Exit(1)
	}
}

// run serves until ctx ends, then shuts down and saves.
func run(ctx context.Context, args []string, getenv func(string) string,
	stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	logger := newLogger(stderr)
	if cfg.devKey {
		logger.Warn("no API keys given: accepting only the development key " +
			"(set PANGOLIN_API_KEYS or -api-keys)")
	}

	srv, err := pangolin.NewServer(pangolin.ServerOptions{
		APIKeys: cfg.keys, DataFile: cfg.dataFile, Faults: cfg.faults, Logger: logger,
	})
	if err != nil {
		logger.Error("start failed", "error", err)
		return err
	}
	ln, err := listen(cfg, stdout, logger)
	if err != nil {
		return errors.Join(err, srv.Close())
	}
	if err := serve(ctx, ln, srv, logger); err != nil {
		return err
	}
	if cfg.dataFile != "" {
		logger.Info("stopped; state saved", "data_file", cfg.dataFile)
	} else {
		logger.Info("stopped; state was in memory only")
	}
	return nil
}

// listen opens the listener and tells where it is.
func listen(cfg config, stdout io.Writer, logger *slog.Logger) (net.Listener, error) {
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		logger.Error("listen failed", "error", err)
		return nil, err
	}
	url := "http://" + ln.Addr().String()
	fmt.Fprintf(stdout, "pangolin listening on %s\n", url)
	if cfg.devKey {
		fmt.Fprintf(stdout, "development API key: %s\n", pangolin.DevAPIKey)
	}
	logger.Info("listening", "url", url, "data_file", cfg.dataFile,
		"rate_limit", cfg.faults.RateLimit, "failure_rate", cfg.faults.FailureRate,
		"latency", cfg.faults.Latency.String())
	return ln, nil
}

// serve answers on ln until ctx ends or serving fails.
func serve(ctx context.Context, ln net.Listener, srv *pangolin.Server,
	logger *slog.Logger) error {
	hs := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()

	var serveErr error
	select {
	case <-ctx.Done():
		logger.Info("shutting down")
	case serveErr = <-served:
		logger.Error("serving failed", "error", serveErr)
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err := errors.Join(serveErr, hs.Shutdown(sctx), srv.Close())
	if err != nil {
		logger.Error("stopped with an error", "error", err)
		return err
	}
	return nil
}

// newLogger writes JSON lines with Cloud Logging's field names.
func newLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.MessageKey:
				a.Key = "message"
			case slog.LevelKey:
				a = slog.String("severity", severity(a.Value.Any().(slog.Level)))
			}
			return a
		},
	}))
}

// severity names a level as Cloud Logging does.
func severity(l slog.Level) string {
	switch {
	case l >= slog.LevelError:
		return "ERROR"
	case l >= slog.LevelWarn:
		return "WARNING"
	case l >= slog.LevelInfo:
		return "INFO"
	}
	return "DEBUG"
}
