// Package storetest gives tests a real Firestore emulator.
//
// The emulator is the npm package @firestore-emulator/server, pinned in
// testdata/firestore-emulator, run on Node.js. The first test that asks for
// it installs the pinned packages there with `npm ci` (when node_modules is
// missing) and starts one emulator for the whole test binary, on a free
// loopback port. Node.js and npm must be on PATH. Where they are missing or
// the install fails, the test is skipped with the reason, or fails when the
// environment variable CI is "true".
//
// Use it from TestMain, so the emulator is stopped when the tests end and
// no test reaches Google:
//
//	func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }
//
//	func TestSomething(t *testing.T) {
//		client := storetest.NewFirestoreClient(t) // starts the emulator once
//		...
//	}
//
// Without Main the emulator still stops when the test binary exits: it
// watches its standard input, which is a pipe from the binary.
package storetest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
)

// Project is the project ID of clients made by NewFirestoreClient.
const Project = "test-project"

// Time limits of starting the emulator.
const (
	installTimeout = 5 * time.Minute  // npm ci, first use only
	startTimeout   = 30 * time.Second // until the emulator accepts connections
)

var (
	emuOnce sync.Once
	emu     *emulator
	emuErr  error
)

// Main prepares the environment so that no test reaches Google's metadata
// server (GCE_METADATA_HOST=127.0.0.1:9, METADATA_SERVER_DETECTION=none),
// runs the tests, stops the emulator if one was started, and returns the
// exit code for os.Exit.
func Main(m *testing.M) int {
	os.Setenv("GCE_METADATA_HOST", "127.0.0.1:9")
	os.Setenv("METADATA_SERVER_DETECTION", "none")
	code := m.Run()
	if emu != nil {
		emu.stop()
	}
	return code
}

// StartFirestoreEmulator returns the address (host:port) of the test
// binary's Firestore emulator, starting it on first use, and points the
// environment variable FIRESTORE_EMULATOR_HOST at it for the whole process,
// so that firestore.NewClient connects to it without credentials. When
// FIRESTORE_EMULATOR_HOST is already set on first use, that emulator is used
// and none is started. Safe for concurrent use; tests sharing the emulator
// should keep their data apart (own collections or customers).
func StartFirestoreEmulator(tb testing.TB) string {
	tb.Helper()
	emuOnce.Do(func() { emu, emuErr = startOrReuse() })
	if emuErr != nil {
		unavailable(tb, emuErr)
	}
	return emu.addr
}

// NewFirestoreClient returns a client of the test binary's emulator (see
// StartFirestoreEmulator) for Project, closed when tb ends.
func NewFirestoreClient(tb testing.TB) *firestore.Client {
	tb.Helper()
	StartFirestoreEmulator(tb)
	client, err := firestore.NewClient(context.Background(), Project)
	if err != nil {
		tb.Fatalf("firestore.NewClient(%q) = %v", Project, err)
	}
	tb.Cleanup(func() { client.Close() })
	return client
}

// unavailable skips tb, or fails it when running in CI.
func unavailable(tb testing.TB, err error) {
	tb.Helper()
	if os.Getenv("CI") == "true" {
		tb.Fatalf("Firestore emulator unavailable (CI=true, so this fails): %v", err)
	}
	tb.Skipf("Firestore emulator unavailable (install Node.js and npm): %v", err)
}

func startOrReuse() (*emulator, error) {
	if addr := os.Getenv("FIRESTORE_EMULATOR_HOST"); addr != "" {
		return &emulator{addr: addr}, awaitListening(addr, startTimeout)
	}
	dir, err := emulatorDir()
	if err != nil {
		return nil, err
	}
	if err := install(dir); err != nil {
		return nil, err
	}
	e, err := start(dir)
	if err != nil {
		return nil, err
	}
	os.Setenv("FIRESTORE_EMULATOR_HOST", e.addr)
	return e, nil
}

// emulatorDir finds testdata/firestore-emulator next to this source file,
// wherever the calling test runs.
func emulatorDir() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok || !filepath.IsAbs(file) {
		return "", errors.New("cannot locate the storetest source folder (built with -trimpath?)")
	}
	return filepath.Join(filepath.Dir(file), "testdata", "firestore-emulator"), nil
}

// install runs `npm ci` for the pinned packages unless they are installed.
// It installs into a temporary folder and renames node_modules into place,
// so test binaries installing at the same time never see half an install.
func install(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, "node_modules")); err == nil {
		return nil
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return fmt.Errorf("install emulator: %w", err)
	}
	tmp, err := os.MkdirTemp(dir, ".install-")
	if err != nil {
		return fmt.Errorf("install emulator: %w", err)
	}
	defer os.RemoveAll(tmp)
	for _, name := range []string{"package.json", "package-lock.json"} {
		if err := copyFile(filepath.Join(dir, name), filepath.Join(tmp, name)); err != nil {
			return fmt.Errorf("install emulator: %w", err)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), installTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts")
	cmd.Dir = tmp
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("install emulator: npm ci in %s: %w\n%s", dir, err, out)
	}

	err = os.Rename(filepath.Join(tmp, "node_modules"), filepath.Join(dir, "node_modules"))
	if _, statErr := os.Stat(filepath.Join(dir, "node_modules")); statErr == nil {
		return nil // ours, or another test binary's that finished first
	}
	return fmt.Errorf("install emulator: %w", err)
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o644)
}

// awaitListening polls addr until it accepts a TCP connection.
func awaitListening(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			return conn.Close()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("emulator at %s not accepting connections after %v: %w",
				addr, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// readAddr reads the emulator's "listening HOST:PORT" line.
func readAddr(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
	if !ok {
		return "", fmt.Errorf("emulator said %q, want \"listening HOST:PORT\" (%v)", line, err)
	}
	return addr, nil
}
