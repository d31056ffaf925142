package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockDataDir makes sure that one pipeline at a time uses the data
// directory: two would each write their own Pangolin state over the other's.
// The lock is released when the process ends, however it ends.
func lockDataDir(dir string) (unlock func(), err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		f.Close()
		return nil, fmt.Errorf("another pipeline is using %s; stop it, or give this one "+
			"another DIY_DATA_DIR (and PORT, PANGOLIN_PORT)", dir)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("locking the data directory: %w", err)
	}
	return func() { f.Close() }, nil
}
