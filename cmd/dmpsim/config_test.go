package main

import (
	"errors"
	"flag"
	"strings"
	"testing"
	"time"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		check func(c Config) bool
	}{
		{"defaults", nil, nil, func(c Config) bool {
			return c == DefaultConfig() && c.URL == DefaultURL && c.Secret == DevSecret &&
				c.PangolinKey == DevPangolinKey && c.PangolinURL == DefaultPangolinURL &&
				c.Customers == 2 && c.Audiences == 6 && c.Users == 2000 && c.Mutations == 5000 &&
				c.RemoveShare == 0.3 && c.Concurrency == 4 && c.Seed == 1 && c.Verify &&
				c.Settle == time.Minute && c.Timeout == 10*time.Second && c.Rate == 0 &&
				c.BatchSize == 100 && c.BatchInterval == time.Second && !c.Conformance
		}},
		{"environment", nil, map[string]string{
			"DIY_URL": "https://diy.example/", "DIY_HMAC_SECRET": "env-secret",
			"DIY_BASIC_AUTH_USER": "dmp", "DIY_BASIC_AUTH_PASSWORD": "env-pass",
			"PANGOLIN_URL": "http://127.0.0.1:9999", "PANGOLIN_API_KEY": "env-key",
		}, func(c Config) bool {
			return c.URL == "https://diy.example/" && c.Secret == "env-secret" &&
				c.BasicUser == "dmp" && c.BasicPassword == "env-pass" &&
				c.PangolinURL == "http://127.0.0.1:9999" && c.PangolinKey == "env-key"
		}},
		{"flags win over the environment",
			[]string{"-url", "http://127.0.0.1:1/", "-secret", "flag-secret", "-pangolin-key", "k"},
			map[string]string{"DIY_URL": "https://diy.example/", "DIY_HMAC_SECRET": "env-secret",
				"PANGOLIN_API_KEY": "env-key"},
			func(c Config) bool {
				return c.URL == "http://127.0.0.1:1/" && c.Secret == "flag-secret" &&
					c.PangolinKey == "k"
			}},
		{"workload flags", []string{"-customers", "3", "-audiences", "9", "-users", "10",
			"-mutations", "0", "-duration", "30s", "-rate", "250", "-remove-share", "0",
			"-concurrency", "8", "-seed", "42", "-verify=false", "-settle", "5s",
			"-timeout", "2s", "-no-progress", "-conformance", "-batch-size", "50",
			"-batch-interval", "250ms"}, nil,
			func(c Config) bool {
				return c.Customers == 3 && c.Audiences == 9 && c.Users == 10 && c.Mutations == 0 &&
					c.Duration == 30*time.Second && c.Rate == 250 && c.RemoveShare == 0 &&
					c.Concurrency == 8 && c.Seed == 42 && !c.Verify && c.Settle == 5*time.Second &&
					c.Timeout == 2*time.Second && c.NoProgress && c.Conformance &&
					c.BatchSize == 50 && c.BatchInterval == 250*time.Millisecond
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out strings.Builder
			c, err := parseConfig(tt.args, envOf(tt.env), &out)
			if err != nil {
				t.Fatalf("parseConfig(%q) = %v", tt.args, err)
			}
			if !tt.check(c) {
				t.Errorf("parseConfig(%q) = %+v, not what was asked", tt.args, c)
			}
		})
	}
}

func TestParseConfigRefuses(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no mutations and no duration", []string{"-mutations", "0"}, "-mutations 0 needs"},
		{"remove share above 1", []string{"-remove-share", "1.5"}, "-remove-share"},
		{"no audiences", []string{"-audiences", "0"}, "-audiences"},
		{"no workers", []string{"-concurrency", "0"}, "-concurrency"},
		{"not a URL", []string{"-url", "ftp://x"}, "-url"},
		{"stray argument", []string{"extra"}, "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out strings.Builder
			_, err := parseConfig(tt.args, envOf(nil), &out)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("parseConfig(%q) = %v, want an error naming %s", tt.args, err, tt.want)
			}
		})
	}
}

func TestUsageHidesSecrets(t *testing.T) {
	env := envOf(map[string]string{
		"DIY_URL":                 "https://dmp:url-password-value@diy.example/",
		"DIY_HMAC_SECRET":         "env-secret-value",
		"DIY_BASIC_AUTH_PASSWORD": "env-password-value",
		"PANGOLIN_API_KEY":        "env-key-value",
	})
	var out strings.Builder
	_, err := parseConfig([]string{"-h"}, env, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("parseConfig(-h) = %v, want flag.ErrHelp", err)
	}
	secrets := []string{"url-password-value", "env-secret-value", "env-password-value",
		"env-key-value", DevSecret, DevPangolinKey}
	for _, secret := range secrets {
		if strings.Contains(out.String(), secret) {
			t.Errorf("usage shows %q:\n%s", secret, out.String())
		}
	}
	for _, flagName := range []string{"-url", "-secret", "-basic-user", "-basic-password",
		"-customers", "-audiences", "-users", "-mutations", "-rate", "-duration",
		"-remove-share", "-concurrency", "-seed", "-pangolin-url", "-pangolin-key", "-verify",
		"-settle", "-conformance", "-timeout", "-no-progress"} {
		if !strings.Contains(out.String(), flagName+" ") && !strings.Contains(out.String(),
			flagName+"\n") {
			t.Errorf("usage does not describe %s", flagName)
		}
	}
}
