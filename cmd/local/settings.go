package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/dmp-diy/diy/pangolin"
)

// Development credentials, for this machine only.
const (
	devHMACSecret  = "dev-hmac-secret"
	devPangolinKey = "dev-pangolin-key"
	devProject     = "diy-local"
)

// settings are the local pipeline's own settings; the functions read theirs
// from the environment, which applyDefaults fills in.
type settings struct {
	port, pangolinPort string
	pangolinURL        string // empty: start a local Pangolin
	dataDir            string
	faults             pangolin.Faults
	drainTimeout       time.Duration
}

// applyDefaults sets the environment the functions read to the local
// defaults, for each variable that is not already set, and returns the
// pipeline's own settings.
func applyDefaults() (settings, error) {
	s := settings{
		port:         envOr("PORT", "8080"),
		pangolinPort: envOr("PANGOLIN_PORT", "8081"),
		pangolinURL:  os.Getenv("PANGOLIN_URL"),
		dataDir:      envOr("DIY_DATA_DIR", ".diy-local"),
	}
	abs, err := filepath.Abs(s.dataDir)
	if err != nil {
		return s, fmt.Errorf("DIY_DATA_DIR: %w", err)
	}
	s.dataDir = abs
	defaults := map[string]string{
		"GOOGLE_CLOUD_PROJECT": devProject,
		"DIY_DATA_DIR":         s.dataDir,
		"PANGOLIN_API_KEY":     devPangolinKey,
		"DIY_HMAC_SECRET":      devHMACSecret, // set but empty stays empty: fail closed
		"PANGOLIN_URL":         "http://127.0.0.1:" + s.pangolinPort,
	}
	if os.Getenv("FIRESTORE_EMULATOR_HOST") != "" {
		defaults["DIY_STORE"] = "firestore"
	}
	for k, v := range defaults {
		if _, set := os.LookupEnv(k); !set {
			os.Setenv(k, v)
		}
	}
	os.Unsetenv("FUNCTION_TARGET") // serve both functions, each at its own path
	s.faults, err = faultsFromEnv()
	if err != nil {
		return s, err
	}
	s.drainTimeout, err = durationEnv("DIY_DRAIN_TIMEOUT", time.Minute)
	return s, err
}

// faultsFromEnv reads the local Pangolin's faults, named as cmd/pangolin
// names them.
func faultsFromEnv() (pangolin.Faults, error) {
	var f pangolin.Faults
	var errs []string
	if v := os.Getenv("PANGOLIN_RATE_LIMIT"); v != "" {
		n, err := strconv.ParseFloat(v, 64)
		if err != nil || n < 0 {
			errs = append(errs, "PANGOLIN_RATE_LIMIT must be a number of requests per second")
		}
		f.RateLimit = n
	}
	if v := os.Getenv("PANGOLIN_BURST"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			errs = append(errs, "PANGOLIN_BURST must be a whole number")
		}
		f.Burst = n
	}
	if v := os.Getenv("PANGOLIN_FAILURE_RATE"); v != "" {
		n, err := strconv.ParseFloat(v, 64)
		if err != nil || n < 0 || n > 1 {
			errs = append(errs, "PANGOLIN_FAILURE_RATE must be between 0 and 1")
		}
		f.FailureRate = n
	}
	lat, err := durationEnv("PANGOLIN_LATENCY", 0)
	if err != nil {
		errs = append(errs, err.Error())
	}
	f.Latency = lat
	if len(errs) > 0 {
		return f, fmt.Errorf("settings: %s", strings.Join(errs, "; "))
	}
	return f, nil
}

func durationEnv(name string, def time.Duration) (time.Duration, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return def, fmt.Errorf("%s=%q is not a duration such as 30s", name, v)
	}
	return d, nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
