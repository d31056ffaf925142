package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"
)

// Defaults of the settings, chosen to work against `go run ./cmd/local`.
const (
	DefaultURL         = "http://127.0.0.1:8080/"
	DefaultPangolinURL = "http://127.0.0.1:8081"
	// DevSecret and DevPangolinKey are the local pipeline's development
	// credentials; they protect nothing.
	DevSecret      = "dev-hmac-secret"
	DevPangolinKey = "dev-pangolin-key"
)

// Config is one run's settings. Secret, BasicPassword and PangolinKey are
// never printed.
type Config struct {
	URL           string
	Secret        string
	BasicUser     string
	BasicPassword string

	Customers     int
	Audiences     int
	Users         int
	Mutations     int // 0 = until Duration
	Rate          float64
	Duration      time.Duration
	RemoveShare   float64
	Concurrency   int
	Seed          int64
	BatchSize     int
	BatchInterval time.Duration

	PangolinURL  string
	PangolinKey  string
	Verify       bool
	Settle       time.Duration
	PollInterval time.Duration // between verify comparisons

	Conformance bool
	Timeout     time.Duration // per request
	RetryMax    time.Duration // how long one request is retried
	NoProgress  bool
}

// DefaultConfig returns the settings used when no flag or variable says
// otherwise.
func DefaultConfig() Config {
	return Config{
		URL: DefaultURL, Secret: DevSecret,
		Customers: 2, Audiences: 6, Users: 2000, Mutations: 5000, RemoveShare: 0.3,
		Concurrency: 4, Seed: 1, BatchSize: DefaultBatchSize, BatchInterval: DefaultBatchInterval,
		PangolinURL: DefaultPangolinURL, PangolinKey: DevPangolinKey, Verify: true,
		Settle: time.Minute, PollInterval: 500 * time.Millisecond,
		Timeout: 10 * time.Second, RetryMax: 2 * time.Minute,
	}
}

// parseConfig reads the flags in args, falling back to the environment
// (through getenv) and then to the defaults. Usage goes to out.
func parseConfig(args []string, getenv func(string) string, out io.Writer) (Config, error) {
	c := DefaultConfig()
	fs := flag.NewFlagSet("dmpsim", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprintln(out, "Usage: dmpsim [flags]\n\nBehaves like the DMP towards a DIY endpoint: "+
			"load mode (default) or -conformance.\n\nFlags:")
		fs.PrintDefaults()
	}
	c.BasicUser = getenv("DIY_BASIC_AUTH_USER")
	ef := addEnvFlags(fs)
	addWorkloadFlags(fs, &c)
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	c.URL = firstSet(*ef.url, getenv("DIY_URL"), DefaultURL)
	c.PangolinURL = firstSet(*ef.pangolinURL, getenv("PANGOLIN_URL"), DefaultPangolinURL)
	c.Secret = firstSet(*ef.secret, getenv("DIY_HMAC_SECRET"), DevSecret)
	c.BasicPassword = firstSet(*ef.password, getenv("DIY_BASIC_AUTH_PASSWORD"))
	c.PangolinKey = firstSet(*ef.key, getenv("PANGOLIN_API_KEY"), DevPangolinKey)
	return c, c.Validate()
}

// envFlags are the flags that fall back to the environment. They get no
// flag default, so that usage never shows a secret (nor a password inside
// a URL); parseConfig resolves them after parsing.
type envFlags struct {
	url, secret, password, pangolinURL, key *string
}

func addEnvFlags(fs *flag.FlagSet) envFlags {
	return envFlags{
		url: fs.String("url", "", "DIY endpoint `URL` ($DIY_URL; default "+DefaultURL+")"),
		secret: fs.String("secret", "", "HMAC `secret` shared with the endpoint "+
			"($DIY_HMAC_SECRET; default the local development secret)"),
		password: fs.String("basic-password", "",
			"Basic Auth `password` ($DIY_BASIC_AUTH_PASSWORD)"),
		pangolinURL: fs.String("pangolin-url", "", "Pangolin `URL` read by verify "+
			"($PANGOLIN_URL; default "+DefaultPangolinURL+")"),
		key: fs.String("pangolin-key", "", "Pangolin API `key` for every customer "+
			"($PANGOLIN_API_KEY; default the local development key)"),
	}
}

// addWorkloadFlags registers the other flags, with c's values as defaults.
func addWorkloadFlags(fs *flag.FlagSet, c *Config) {
	fs.StringVar(&c.BasicUser, "basic-user", c.BasicUser,
		"Basic Auth `user` ($DIY_BASIC_AUTH_USER); sent with -basic-password")
	fs.IntVar(&c.Customers, "customers", c.Customers, "DMP customers")
	fs.IntVar(&c.Audiences, "audiences", c.Audiences,
		"audiences created, spread over the customers")
	fs.IntVar(&c.Users, "users", c.Users, "size of the user pool")
	fs.IntVar(&c.Mutations, "mutations", c.Mutations,
		"ADD and REMOVE mutations to send in all; 0 = until -duration")
	fs.Float64Var(&c.Rate, "rate", c.Rate, "mutations per second; 0 = as fast as possible")
	fs.DurationVar(&c.Duration, "duration", c.Duration, "cap on the streaming phase; 0 = none")
	fs.Float64Var(&c.RemoveShare, "remove-share", c.RemoveShare,
		"share of mutations that are REMOVEs (0..1)")
	fs.IntVar(&c.Concurrency, "concurrency", c.Concurrency,
		"workers; each owns a share of the audiences and sends one request at a time")
	fs.Int64Var(&c.Seed, "seed", c.Seed, "seed of the traffic: same seed, same traffic")
	fs.IntVar(&c.BatchSize, "batch-size", c.BatchSize, "users per request (the DMP sends 100)")
	fs.DurationVar(&c.BatchInterval, "batch-interval", c.BatchInterval,
		"longest wait before a partial batch is sent (the DMP waits 1s)")
	fs.BoolVar(&c.Verify, "verify", c.Verify,
		"compare Pangolin's audiences with the expected state")
	fs.DurationVar(&c.Settle, "settle", c.Settle, "how long verify waits for the pipeline")
	fs.BoolVar(&c.Conformance, "conformance", c.Conformance,
		"check the endpoint's protocol answers only")
	fs.DurationVar(&c.Timeout, "timeout", c.Timeout, "timeout of one request")
	fs.BoolVar(&c.NoProgress, "no-progress", c.NoProgress, "no progress bar")
}

func firstSet(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

// ErrConfig is wrapped by every complaint about the settings.
var ErrConfig = errors.New("invalid settings")

// Validate reports every setting that cannot work.
func (c Config) Validate() error {
	var errs []string
	check := func(ok bool, msg string) {
		if !ok {
			errs = append(errs, msg)
		}
	}
	if u, err := url.Parse(c.URL); err != nil || u.Host == "" ||
		(u.Scheme != "http" && u.Scheme != "https") {
		errs = append(errs, fmt.Sprintf("-url %s is not an http(s) URL", redactURL(c.URL)))
	}
	check(c.Customers >= 1, "-customers must be at least 1")
	check(c.Audiences >= 1, "-audiences must be at least 1")
	check(c.Users >= 1, "-users must be at least 1")
	check(c.Mutations >= 0, "-mutations must not be negative")
	check(c.Mutations > 0 || c.Duration > 0, "-mutations 0 needs a -duration")
	check(c.Rate >= 0, "-rate must not be negative")
	check(c.Duration >= 0, "-duration must not be negative")
	check(c.RemoveShare >= 0 && c.RemoveShare <= 1, "-remove-share must be between 0 and 1")
	check(c.Concurrency >= 1, "-concurrency must be at least 1")
	check(c.BatchSize >= 1, "-batch-size must be at least 1")
	check(c.BatchInterval > 0, "-batch-interval must be positive")
	check(c.Settle >= 0, "-settle must not be negative")
	check(c.Timeout > 0, "-timeout must be positive")
	if len(errs) > 0 {
		return fmt.Errorf("%w: %s", ErrConfig, strings.Join(errs, "; "))
	}
	return nil
}
