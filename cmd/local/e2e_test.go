package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	os.Setenv("GCE_METADATA_HOST", "127.0.0.1:9")
	os.Setenv("METADATA_SERVER_DETECTION", "none")
	os.Exit(m.Run())
}

// lockedBuffer collects a child process's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// build compiles a command of this module into dir and returns its path.
func build(t *testing.T, dir, pkg string) string {
	t.Helper()
	out := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", out, pkg)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return out
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
}

// childEnv is this process's environment without the settings that would
// point the child elsewhere, plus extra.
func childEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "PUBSUB_EMULATOR_HOST", "FIRESTORE_EMULATOR_HOST", "PANGOLIN_URL", "PORT",
			"PANGOLIN_PORT", "DIY_DATA_DIR", "DIY_HMAC_SECRET", "PANGOLIN_API_KEY",
			"SECRET_MANAGER_ENDPOINT", "FUNCTION_TARGET":
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// TestPipelineEndToEnd starts the local pipeline as a user does, with
// Pangolin failing and rate-limiting, drives it with the DMP simulator,
// requires zero differences between what the DMP asked for and Pangolin's
// audiences, then stops the pipeline and requires a clean drain.
func TestPipelineEndToEnd(t *testing.T) {
	bin := t.TempDir()
	local := build(t, bin, "github.com/dmp-diy/diy/cmd/local")
	sim := build(t, bin, "github.com/dmp-diy/diy/cmd/dmpsim")
	port, panPort := freePort(t), freePort(t)

	var stdout, stderr lockedBuffer
	pipeline := exec.Command(local)
	pipeline.Dir = t.TempDir()
	pipeline.Env = childEnv("PORT="+port, "PANGOLIN_PORT="+panPort,
		"PANGOLIN_FAILURE_RATE=0.2", "PANGOLIN_RATE_LIMIT=200", "PANGOLIN_BURST=20")
	pipeline.Stdout, pipeline.Stderr = &stdout, &stderr
	if err := pipeline.Start(); err != nil {
		t.Fatalf("starting cmd/local: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- pipeline.Wait() }()
	t.Cleanup(func() {
		pipeline.Process.Kill()
		if t.Failed() {
			t.Logf("cmd/local stdout:\n%s", stdout.String())
			t.Logf("cmd/local stderr (last 4 KiB):\n%s", tail(stderr.String(), 4096))
		}
	})

	diyURL := "http://127.0.0.1:" + port + "/"
	awaitReady(t, diyURL, exited)
	if !strings.Contains(stdout.String(), "curl -sS -X POST") {
		t.Errorf("start-up lines lack a ready-to-paste curl:\n%s", stdout.String())
	}

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	run := exec.CommandContext(ctx, sim, "-url", diyURL,
		"-pangolin-url", "http://127.0.0.1:"+panPort, "-customers", "3", "-audiences", "10",
		"-mutations", "20000", "-remove-share", "0.3", "-no-progress", "-settle", "3m")
	run.Env = childEnv()
	report, err := run.CombinedOutput()
	lines := strings.Split(strings.TrimSpace(string(report)), "\n")
	if err != nil || lines[len(lines)-1] != "PASS" {
		t.Fatalf("dmpsim: %v\n%s", err, report)
	}
	t.Logf("dmpsim report:\n%s", report)

	if err := pipeline.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("cmd/local exited with %v after SIGTERM", err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("cmd/local did not exit within 2 minutes of SIGTERM")
	}
	if !strings.Contains(stdout.String(), "everything queued was forwarded") {
		t.Errorf("cmd/local did not report a clean drain:\n%s", stdout.String())
	}
}

func awaitReady(t *testing.T, url string, exited <-chan error) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-exited:
			t.Fatalf("cmd/local exited during start-up: %v", err)
		default:
		}
		if res, err := http.Get(url); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("cmd/local did not answer GET %s within 60s", url)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
