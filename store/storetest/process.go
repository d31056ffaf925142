package storetest

import (
	"fmt"
	"io"
	"os/exec"
	"sync"
	"time"
)

// emulator is a running emulator; cmd is nil for one this package did not
// start.
type emulator struct {
	addr  string
	cmd   *exec.Cmd
	stdin io.Closer
}

// start runs serve.js in dir and waits until the emulator accepts
// connections.
func start(dir string) (*emulator, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("start emulator: %w", err)
	}
	cmd := exec.Command(node, "serve.js", "0")
	cmd.Dir = dir
	stderr := &tail{max: 8 << 10}
	cmd.Stderr = stderr
	ownProcessGroup(cmd)
	stdin, err := cmd.StdinPipe() // serve.js exits when this closes
	if err != nil {
		return nil, fmt.Errorf("start emulator: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("start emulator: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start emulator: %w", err)
	}
	e := &emulator{cmd: cmd, stdin: stdin}

	addr, err := awaitAddr(stdout)
	if err == nil {
		err = awaitListening(addr, startTimeout)
	}
	if err != nil {
		e.stop()
		return nil, fmt.Errorf("start emulator: %w; stderr: %s", err, stderr)
	}
	e.addr = addr
	return e, nil
}

// awaitAddr reads the address the emulator prints once bound, then keeps
// draining its output so that it never blocks on a full pipe.
func awaitAddr(stdout io.Reader) (string, error) {
	type result struct {
		addr string
		err  error
	}
	got := make(chan result, 1)
	go func() {
		addr, err := readAddr(stdout)
		got <- result{addr, err}
		io.Copy(io.Discard, stdout)
	}()
	select {
	case r := <-got:
		return r.addr, r.err
	case <-time.After(startTimeout):
		return "", fmt.Errorf("no address from the emulator after %v", startTimeout)
	}
}

// stop ends the emulator's process group and waits for it.
func (e *emulator) stop() {
	if e.cmd == nil {
		return
	}
	e.stdin.Close()
	killProcessGroup(e.cmd)
	e.cmd.Wait()
}

// tail keeps the last max bytes written to it.
type tail struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
