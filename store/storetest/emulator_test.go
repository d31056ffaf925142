package storetest_test

import (
	"context"
	"net"
	"os"
	"testing"

	"github.com/dmp-diy/diy/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

func TestStartFirestoreEmulatorOncePerBinary(t *testing.T) {
	first := storetest.StartFirestoreEmulator(t)
	if got := storetest.StartFirestoreEmulator(t); got != first {
		t.Errorf("second StartFirestoreEmulator = %q, want %q", got, first)
	}
	if got := os.Getenv("FIRESTORE_EMULATOR_HOST"); got != first {
		t.Errorf("FIRESTORE_EMULATOR_HOST = %q, want %q", got, first)
	}
	host, _, err := net.SplitHostPort(first)
	if err != nil || host != "127.0.0.1" {
		t.Errorf("emulator address %q, want one on 127.0.0.1 (%v)", first, err)
	}
}

func TestNewFirestoreClientWritesAndReads(t *testing.T) {
	client := storetest.NewFirestoreClient(t)
	ctx := context.Background()
	doc := client.Collection("storetest").Doc("d")
	if _, err := doc.Set(ctx, map[string]any{"n": 1}); err != nil {
		t.Fatalf("Set = %v", err)
	}
	snap, err := doc.Get(ctx)
	if err != nil || snap.Data()["n"] != int64(1) {
		t.Fatalf("Get = %v, %v; want n=1", snap.Data(), err)
	}
}
