package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dmp-diy/diy/pangolin"
)

func TestMain(m *testing.M) {
	os.Setenv("GCE_METADATA_HOST", "127.0.0.1:9")
	os.Setenv("METADATA_SERVER_DETECTION", "none")
	os.Exit(m.Run())
}

// envOf returns a getenv reading vars.
func envOf(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want config
	}{
		{"defaults", nil, nil, config{addr: "127.0.0.1:8081",
			keys: []string{pangolin.DevAPIKey}, devKey: true}},
		{"environment", nil, map[string]string{
			"PORT": "9000", "PANGOLIN_API_KEYS": "k1, k2,", "PANGOLIN_DATA_FILE": "/tmp/p.json",
			"PANGOLIN_RATE_LIMIT": "2.5", "PANGOLIN_BURST": "4",
			"PANGOLIN_FAILURE_RATE": "0.1", "PANGOLIN_LATENCY": "250ms",
		}, config{addr: "127.0.0.1:9000", keys: []string{"k1", "k2"}, dataFile: "/tmp/p.json",
			faults: pangolin.Faults{RateLimit: 2.5, Burst: 4, FailureRate: 0.1,
				Latency: 250 * time.Millisecond}}},
		{"flags beat environment", []string{"-addr", "127.0.0.1:0", "-api-keys", "f1",
			"-data-file", "d.json", "-rate-limit", "1", "-burst", "2", "-failure-rate", "0.5",
			"-latency", "1s"},
			map[string]string{"PORT": "9000", "PANGOLIN_API_KEYS": "k1", "PANGOLIN_LATENCY": "2s"},
			config{addr: "127.0.0.1:0", keys: []string{"f1"}, dataFile: "d.json",
				faults: pangolin.Faults{RateLimit: 1, Burst: 2, FailureRate: 0.5,
					Latency: time.Second}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseConfig(tt.args, envOf(tt.env), io.Discard)
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseConfig() = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestParseConfigRejects(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"bad env number", nil, map[string]string{"PANGOLIN_RATE_LIMIT": "fast"}},
		{"bad env duration", nil, map[string]string{"PANGOLIN_LATENCY": "5"}},
		{"bad flag", []string{"-burst", "many"}, nil},
		{"unknown flag", []string{"-verbose"}, nil},
		{"failure rate above 1", []string{"-failure-rate", "2"}, nil},
		{"negative latency", []string{"-latency", "-1s"}, nil},
		{"stray argument", []string{"serve"}, nil},
	}
	for _, tt := range tests {
		if _, err := parseConfig(tt.args, envOf(tt.env), io.Discard); !errors.Is(err, errUsage) {
			t.Errorf("%s: parseConfig() = %v, want errUsage", tt.name, err)
		}
	}
}

func TestHelp(t *testing.T) {
	var out strings.Builder
	_, err := parseConfig([]string{"-h"}, envOf(map[string]string{"PANGOLIN_API_KEYS": "s3cret"}),
		&out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Errorf("parseConfig(-h) = %v, want flag.ErrHelp", err)
	}
	for _, name := range []string{"-addr", "PORT", "PANGOLIN_API_KEYS", "PANGOLIN_DATA_FILE",
		"PANGOLIN_RATE_LIMIT", "PANGOLIN_BURST", "PANGOLIN_FAILURE_RATE", "PANGOLIN_LATENCY"} {
		if !strings.Contains(out.String(), name) {
			t.Errorf("help does not mention %s", name)
		}
	}
	if strings.Contains(out.String(), "s3cret") {
		t.Error("help shows the API keys")
	}
}

func TestRunServesAndSavesOnShutdown(t *testing.T) {
	dataFile := filepath.Join(t.TempDir(), "pangolin.json")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdoutR, stdoutW := io.Pipe()
	var logs syncWriter

	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-data-file", dataFile},
			envOf(nil), stdoutW, &logs)
		stdoutW.Close()
	}()
	line, err := bufio.NewReader(stdoutR).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the URL line: %v", err)
	}
	url := strings.TrimSpace(strings.TrimPrefix(line, "pangolin listening on "))
	go io.Copy(io.Discard, stdoutR)

	c := pangolin.NewClient(url, pangolin.DevAPIKey, nil)
	a, _, err := c.CreateAudience(ctx, "kept", "ext")
	if err != nil {
		t.Fatalf("CreateAudience() = %v", err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run() = %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run() did not return after its context ended")
	}

	srv, err := pangolin.NewServer(pangolin.ServerOptions{
		APIKeys: []string{pangolin.DevAPIKey}, DataFile: dataFile,
	})
	if err != nil {
		t.Fatalf("NewServer(saved file) = %v", err)
	}
	defer srv.Close()
	data, err := os.ReadFile(dataFile)
	if err != nil || !strings.Contains(string(data), `"id":"`+a.ID+`"`) {
		t.Errorf("data file lacks audience %s (%v)", a.ID, err)
	}
	checkLogs(t, logs.String())
}

// checkLogs checks that every log line is Cloud Logging JSON and that the
// development key warning came without the key.
func checkLogs(t *testing.T, logs string) {
	t.Helper()
	warned := false
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q is not JSON: %v", line, err)
		}
		if rec["severity"] == nil || rec["message"] == nil || rec["time"] == nil {
			t.Errorf("log line %q lacks severity, message or time", line)
		}
		if rec["severity"] == "WARNING" {
			warned = true
		}
		if strings.Contains(line, pangolin.DevAPIKey) {
			t.Errorf("log line %q shows the API key", line)
		}
	}
	if !warned {
		t.Error("no WARNING about the development key")
	}
}
