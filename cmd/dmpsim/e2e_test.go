package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/dmp-diy/diy/pangolin"
)

// lastLine is the output's last line.
func lastLine(out string) string {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	return lines[len(lines)-1]
}

func runSim(t *testing.T, cfg Config) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), cfg, &stdout, &stderr)
	if stderr.Len() > 0 {
		t.Errorf("run() wrote to stderr without a terminal: %q", stderr.String())
	}
	return stdout.String(), err
}

func TestLoadAgainstStack(t *testing.T) {
	s := newStack(t)
	cfg := s.config()

	out, err := runSim(t, cfg)
	if err != nil || lastLine(out) != "PASS" {
		t.Fatalf("run() = %v, last line %q; output:\n%s", err, lastLine(out), out)
	}
	if !strings.Contains(out, "4 audiences, all match") {
		t.Errorf("report does not say every audience matches:\n%s", out)
	}

	// Pangolin holds the four audiences, with members: the run did work.
	c := pangolin.NewClient(s.pangolinURL, stackKey, nil)
	members := 0
	for _, a := range NewUniverse(cfg.Seed, cfg.Customers, cfg.Audiences, cfg.Users).Audiences {
		list, err := c.ListAudiences(context.Background(), a.DMPID)
		if err != nil || len(list) != 1 {
			t.Fatalf("ListAudiences(%s) = %v, %v; want one audience", a.DMPID, list, err)
		}
		members += list[0].Size
	}
	if members == 0 {
		t.Errorf("Pangolin's audiences are empty after the run")
	}

	// Same seed again: the audiences exist and have members; the run starts
	// from them and still ends exact.
	s.awaitDrained(t)
	out, err = runSim(t, cfg)
	if err != nil || lastLine(out) != "PASS" || !strings.Contains(out, "baseline:") {
		t.Fatalf("second run() = %v, last line %q; output:\n%s", err, lastLine(out), out)
	}
}

func TestConformanceAgainstStack(t *testing.T) {
	s := newStack(t)
	cfg := s.config()
	cfg.Conformance = true

	out, err := runSim(t, cfg)
	if err != nil || lastLine(out) != "PASS" {
		t.Fatalf("run(-conformance) = %v; output:\n%s", err, out)
	}
	if strings.Contains(out, "FAIL") {
		t.Errorf("a check failed:\n%s", out)
	}
}

func TestConformanceAgainstBrokenEndpoint(t *testing.T) {
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK) // accepts anything: unsigned, malformed, wrong method
	}))
	t.Cleanup(broken.Close)
	cfg := DefaultConfig()
	cfg.URL, cfg.Conformance = broken.URL, true

	out, err := runSim(t, cfg)
	if err == nil {
		t.Fatalf("run(-conformance) against an endpoint that accepts everything = nil; output:\n%s",
			out)
	}
	if !strings.HasPrefix(lastLine(out), "FAIL: ") {
		t.Errorf("last line = %q, want FAIL: <reason>", lastLine(out))
	}
	for _, want := range []string{"FAIL  bad signature", "FAIL  missing signature",
		"FAIL  malformed JSON", "FAIL  PUT -> 405", "ok    GET without credentials"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
