package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/dmp-diy/diy/pangolin"
)

// errUsage marks a bad flag or environment variable.
var errUsage = errors.New("usage")

// config is what the command runs with.
type config struct {
	addr     string
	keys     []string
	devKey   bool // no keys were given: only pangolin.DevAPIKey is accepted
	dataFile string
	faults   pangolin.Faults
}

// env reads the environment variables that give the flags their defaults.
type env struct {
	getenv func(string) string
	err    error
}

func (e *env) str(name, def string) string {
	if v := e.getenv(name); v != "" {
		return v
	}
	return def
}

func (e *env) float(name string) float64 {
	v := e.getenv(name)
	if v == "" {
		return 0
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		e.err = errors.Join(e.err, fmt.Errorf("%s=%q: not a number", name, v))
	}
	return f
}

func (e *env) int(name string) int {
	v := e.getenv(name)
	if v == "" {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		e.err = errors.Join(e.err, fmt.Errorf("%s=%q: not a whole number", name, v))
	}
	return n
}

func (e *env) duration(name string) time.Duration {
	v := e.getenv(name)
	if v == "" {
		return 0
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		e.err = errors.Join(e.err, fmt.Errorf("%s=%q: not a duration such as 250ms", name, v))
	}
	return d
}

// parseConfig reads flags from args, each defaulting to its environment
// variable. Help and errors go to out; -h returns flag.ErrHelp, a bad value
// an error wrapping errUsage.
func parseConfig(args []string, getenv func(string) string, out io.Writer) (config, error) {
	e := &env{getenv: getenv}
	var cfg config
	var keys string
	fs := newFlagSet(e, &cfg, &keys, out)
	if e.err != nil {
		fmt.Fprintln(out, e.err)
		return config{}, fmt.Errorf("%w: %w", errUsage, e.err)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return config{}, err
		}
		return config{}, fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(out, "unexpected arguments: %v\n", fs.Args())
		return config{}, fmt.Errorf("%w: unexpected arguments", errUsage)
	}
	if keys == "" {
		keys = getenv("PANGOLIN_API_KEYS")
	}
	return cfg.finish(keys, out)
}

// newFlagSet defines the flags into cfg and keys, with defaults from e.
func newFlagSet(e *env, cfg *config, keys *string, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("pangolin", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: pangolin [flags]\n\nRuns the Pangolin API server. "+
			"Each flag falls back to the environment variable named in its text.\n\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&cfg.addr, "addr", "127.0.0.1:"+e.str("PORT", "8081"),
		"listen `address` (env PORT sets the port on 127.0.0.1)")
	// The keys' default is applied after parsing, so -h never shows them.
	fs.StringVar(keys, "api-keys", "",
		"comma-separated API `keys`, one account each (env PANGOLIN_API_KEYS); "+
			"none: only the development key "+pangolin.DevAPIKey)
	fs.StringVar(&cfg.dataFile, "data-file", e.str("PANGOLIN_DATA_FILE", ""),
		"`file` keeping state across restarts, with a .journal beside it "+
			"(env PANGOLIN_DATA_FILE); none: memory only")
	fs.Float64Var(&cfg.faults.RateLimit, "rate-limit", e.float("PANGOLIN_RATE_LIMIT"),
		"requests per second per API key before answering 429 (env PANGOLIN_RATE_LIMIT); "+
			"0: unlimited")
	fs.IntVar(&cfg.faults.Burst, "burst", e.int("PANGOLIN_BURST"),
		"requests allowed at once above the rate (env PANGOLIN_BURST); "+
			"0: the rate rounded up, at least 1")
	fs.Float64Var(&cfg.faults.FailureRate, "failure-rate", e.float("PANGOLIN_FAILURE_RATE"),
		"`fraction` of calls (0..1) answered 503 (env PANGOLIN_FAILURE_RATE)")
	fs.DurationVar(&cfg.faults.Latency, "latency", e.duration("PANGOLIN_LATENCY"),
		"`delay` added to every call, e.g. 250ms (env PANGOLIN_LATENCY)")
	return fs
}

// finish splits the keys and checks the faults.
func (cfg config) finish(keys string, out io.Writer) (config, error) {
	for _, k := range strings.Split(keys, ",") {
		if k = strings.TrimSpace(k); k != "" {
			cfg.keys = append(cfg.keys, k)
		}
	}
	if len(cfg.keys) == 0 {
		cfg.keys, cfg.devKey = []string{pangolin.DevAPIKey}, true
	}
	f := cfg.faults
	if f.RateLimit < 0 || f.Burst < 0 || f.FailureRate < 0 || f.FailureRate > 1 ||
		f.Latency < 0 {
		err := errors.New("-rate-limit, -burst and -latency must be >= 0, " +
			"-failure-rate within 0..1")
		fmt.Fprintln(out, err)
		return config{}, fmt.Errorf("%w: %w", errUsage, err)
	}
	return cfg, nil
}
