package store_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	"github.com/dmp-diy/diy/store"
	"github.com/dmp-diy/diy/store/storetest"
)

// collections numbers the collections of this test binary, so that tests
// sharing the emulator never see each other's data.
var collections atomic.Int64

func newFirestore(tb testing.TB) store.Store {
	tb.Helper()
	return newFirestoreIn(tb, storetest.NewFirestoreClient(tb))
}

func newFirestoreIn(tb testing.TB, client *firestore.Client) *store.Firestore {
	tb.Helper()
	name := fmt.Sprintf("mappings_%d", collections.Add(1))
	s := store.NewFirestore(client, &store.FirestoreOptions{Collection: name})
	tb.Cleanup(func() { s.Close() })
	return s
}

func TestFirestore(t *testing.T) {
	runStoreSuite(t, newFirestore)
}

// TestFirestoreDocumentLayout reads the documents a mapping is stored in,
// as described in the package documentation.
func TestFirestoreDocumentLayout(t *testing.T) {
	client := storetest.NewFirestoreClient(t)
	coll := fmt.Sprintf("layout_%d", collections.Add(1))
	s := store.NewFirestore(client, &store.FirestoreOptions{Collection: coll})
	m := mustCreate(t, s, mapping("123", "a/b", "1000000001"))

	ctx := context.Background()
	want := map[string]any{
		"customer": "123", "audience": "a/b", "pangolin_id": "1000000001",
		"name": m.Name, "created_at": m.CreatedAt,
	}
	for _, coll := range []string{coll, coll + "_by_pangolin_id"} {
		docs, err := client.Collection(coll).Documents(ctx).GetAll()
		if err != nil || len(docs) != 1 {
			t.Fatalf("documents of %s = %d, %v; want 1, nil", coll, len(docs), err)
		}
		got := docs[0].Data()
		for field, w := range want {
			if fmt.Sprint(got[field]) != fmt.Sprint(w) {
				t.Errorf("%s/%s field %s = %v, want %v", coll, docs[0].Ref.ID, field, got[field], w)
			}
		}
		if len(docs[0].Ref.ID) != 64 {
			t.Errorf("document ID %q, want 64 hex digits", docs[0].Ref.ID)
		}
	}
}

func TestNewFirestoreBadArguments(t *testing.T) {
	client := storetest.NewFirestoreClient(t)
	tests := []struct {
		name   string
		client *firestore.Client
		opts   *store.FirestoreOptions
	}{
		{"nil client", nil, nil},
		{"slash in collection", client, &store.FirestoreOptions{Collection: "a/b"}},
	}
	for _, tt := range tests {
		s := store.NewFirestore(tt.client, tt.opts)
		_, _, err := s.Create(context.Background(), mapping("123", "aud", "1"))
		if !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: Create = %v, want ErrInvalid", tt.name, err)
		}
		if _, err := s.Lookup(context.Background(), "123", "aud"); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: Lookup = %v, want ErrInvalid", tt.name, err)
		}
	}
}

// TestFirestoreNeverAsksMetadataServer points the metadata server at a
// listener and wants no connection while a client of the emulator is made
// and used.
func TestFirestoreNeverAsksMetadataServer(t *testing.T) {
	storetest.StartFirestoreEmulator(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var dialed atomic.Int64
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			dialed.Add(1)
			conn.Close()
		}
	}()
	t.Setenv("GCE_METADATA_HOST", ln.Addr().String())
	t.Setenv("METADATA_SERVER_DETECTION", "")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client, err := firestore.NewClient(ctx, storetest.Project)
	if err != nil {
		t.Fatalf("firestore.NewClient = %v", err)
	}
	defer client.Close()
	s := newFirestoreIn(t, client)
	m := mustCreate(t, s, mapping("123", "aud", "1"))
	wantLookup(t, s, "123", "1", m)
	if n := dialed.Load(); n != 0 {
		t.Errorf("metadata server dialed %d times, want 0", n)
	}
}
