package store_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/dmp-diy/diy/store"
)

func newBolt(tb testing.TB) store.Store {
	tb.Helper()
	s, err := store.OpenBolt(filepath.Join(tb.TempDir(), "diy.db"))
	if err != nil {
		tb.Fatalf("OpenBolt = %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func TestBolt(t *testing.T) {
	runStoreSuite(t, newBolt)
}

func TestBoltKeepsMappingsAcrossReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new", "dir", "diy.db")
	s, err := store.OpenBolt(path)
	if err != nil {
		t.Fatalf("OpenBolt(%q) = %v", path, err)
	}
	m := mustCreate(t, s, mapping("123", "aud-1", "1000000001"))
	if err := s.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("Stat(%q) = %v, %v; want a file with mode 0600", path, info, err)
	}

	s, err = store.OpenBolt(path)
	if err != nil {
		t.Fatalf("OpenBolt(%q) again = %v", path, err)
	}
	defer s.Close()
	wantLookup(t, s, "123", "aud-1", m)
	wantLookup(t, s, "123", "1000000001", m)
	_, created, err := s.Create(context.Background(), mapping("123", "aud-1", "other"))
	if err != nil || created {
		t.Errorf("Create(existing) after reopen = created %v, %v; want false, nil", created, err)
	}
}

func TestOpenBoltHeldElsewhereFails(t *testing.T) {
	path := filepath.Join(t.TempDir(), "diy.db")
	s, err := store.OpenBolt(path)
	if err != nil {
		t.Fatalf("OpenBolt(%q) = %v", path, err)
	}
	defer s.Close()

	// bbolt locks the file with flock, which also excludes a second open
	// within one process; the wait is bounded by BoltOpenTimeout.
	other, err := store.OpenBolt(path)
	if !errors.Is(err, store.ErrLocked) {
		if other != nil {
			other.Close()
		}
		t.Fatalf("second OpenBolt(%q) = %v, want ErrLocked", path, err)
	}
}

func TestOpenBoltNotADatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "junk.db")
	junk := []byte("this is not a bbolt file, not even close to one")
	if err := os.WriteFile(path, junk, 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := store.OpenBolt(path); err == nil {
		s.Close()
		t.Fatalf("OpenBolt(junk file) = nil error, want an error")
	}
}
