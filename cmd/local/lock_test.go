package main

import (
	"strings"
	"testing"
)

func TestLockDataDir(t *testing.T) {
	dir := t.TempDir()
	unlock, err := lockDataDir(dir)
	if err != nil {
		t.Fatalf("lockDataDir() = %v", err)
	}
	if _, err := lockDataDir(dir); err == nil || !strings.Contains(err.Error(), "another pipeline") {
		t.Errorf("second lockDataDir() = %v, want an error saying another pipeline uses it", err)
	}
	unlock()
	again, err := lockDataDir(dir)
	if err != nil {
		t.Fatalf("lockDataDir() after unlock = %v", err)
	}
	again()
}
