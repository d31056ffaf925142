package store_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/dmp-diy/diy/store"
	"github.com/dmp-diy/diy/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

// runStoreSuite checks the behaviour every Store must have. newStore
// returns an empty store that is closed when the test ends.
func runStoreSuite(t *testing.T, newStore func(testing.TB) store.Store) {
	tests := []struct {
		name string
		run  func(*testing.T, store.Store)
	}{
		{"CreateThenLookupByBothIDs", testCreateThenLookup},
		{"RepeatedCreateReturnsExisting", testRepeatedCreate},
		{"UnknownIsNotFound", testUnknown},
		{"CustomersAreIsolated", testCustomersIsolated},
		{"AwkwardIDs", testAwkwardIDs},
		{"InvalidArguments", testInvalid},
		{"PangolinIDOfAnotherAudience", testConflict},
		{"CreatedAt", testCreatedAt},
		{"ConcurrentCreates", testConcurrentCreates},
		{"Closed", testClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t, newStore(t))
		})
	}
}

func mapping(customer, audience, pangolinID string) store.Mapping {
	return store.Mapping{Customer: customer, Audience: audience, PangolinID: pangolinID,
		Name: "Audience " + audience}
}

// mustCreate creates m and wants it to be new.
func mustCreate(t *testing.T, s store.Store, m store.Mapping) store.Mapping {
	t.Helper()
	got, created, err := s.Create(context.Background(), m)
	if err != nil || !created {
		t.Fatalf("Create(%.80q) = created %v, err %v; want created, nil", m.Audience, created, err)
	}
	return got
}

// wantLookup looks id up and wants the mapping want.
func wantLookup(t *testing.T, s store.Store, customer, id string, want store.Mapping) {
	t.Helper()
	got, err := s.Lookup(context.Background(), customer, id)
	if err != nil {
		t.Fatalf("Lookup(%q, %.80q) = %v, want nil", customer, id, err)
	}
	if !equal(got, want) {
		t.Errorf("Lookup(%q, %.80q) = %+v, want %+v", customer, id, got, want)
	}
}

// wantNotFound looks id up and wants ErrNotFound.
func wantNotFound(t *testing.T, s store.Store, customer, id string) {
	t.Helper()
	got, err := s.Lookup(context.Background(), customer, id)
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Lookup(%q, %.80q) = %+v, %v; want ErrNotFound", customer, id, got, err)
	}
}

func equal(a, b store.Mapping) bool {
	return a.Customer == b.Customer && a.Audience == b.Audience &&
		a.PangolinID == b.PangolinID && a.Name == b.Name && a.CreatedAt.Equal(b.CreatedAt) &&
		a.CreatedAt.Location() == time.UTC && b.CreatedAt.Location() == time.UTC
}

func testCreateThenLookup(t *testing.T, s store.Store) {
	m := mapping("123", "a5940e473cea659.356693871497425011", "1000000001")
	got := mustCreate(t, s, m)
	if got.Customer != m.Customer || got.Audience != m.Audience ||
		got.PangolinID != m.PangolinID || got.Name != m.Name {
		t.Errorf("Create(%+v) = %+v, want the same fields", m, got)
	}
	wantLookup(t, s, "123", m.Audience, got)
	wantLookup(t, s, "123", m.PangolinID, got)
}

func testRepeatedCreate(t *testing.T, s store.Store) {
	first := mustCreate(t, s, mapping("123", "aud-1", "1000000001"))
	again := store.Mapping{Customer: "123", Audience: "aud-1", PangolinID: "1000000002",
		Name: "renamed"}
	got, created, err := s.Create(context.Background(), again)
	if err != nil || created || !equal(got, first) {
		t.Fatalf("Create(again) = %+v, created %v, %v; want %+v, false, nil",
			got, created, err, first)
	}
	wantLookup(t, s, "123", "aud-1", first)
	wantNotFound(t, s, "123", "1000000002")
}

func testUnknown(t *testing.T, s store.Store) {
	wantNotFound(t, s, "123", "never-created")
	mustCreate(t, s, mapping("123", "aud-1", "1000000001"))
	wantNotFound(t, s, "123", "aud-2")
	wantNotFound(t, s, "123", "1000000002")
}

func testCustomersIsolated(t *testing.T, s store.Store) {
	one := mustCreate(t, s, mapping("1", "shared-audience", "1000000001"))
	wantNotFound(t, s, "2", "shared-audience")
	wantNotFound(t, s, "2", "1000000001")
	wantNotFound(t, s, "11", "shared-audience") // no prefix confusion

	two := mustCreate(t, s, mapping("2", "shared-audience", "2000000001"))
	wantLookup(t, s, "1", "shared-audience", one)
	wantLookup(t, s, "2", "shared-audience", two)
	wantNotFound(t, s, "1", "2000000001")
	wantNotFound(t, s, "2", "1000000001")
}

func testAwkwardIDs(t *testing.T, s store.Store) {
	ids := map[string]string{
		"slash":          "/",
		"path":           "a/b/c",
		"dot":            ".",
		"dot dot":        "..",
		"reserved":       "__x__",
		"reserved regex": "__.*__",
		"unicode":        "Zürich 東京 😀",
		"spaces":         "  padded  ",
		"control":        "tab\tnew\nline\x00nul",
		"1000 ascii":     strings.Repeat("x", 1000),
		"1000 unicode":   strings.Repeat("ü", 1000),
		"max length":     strings.Repeat("m", store.MaxIDLength),
	}
	for name, id := range ids {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			// The awkward value as customer and DMP audience ID, then as
			// Pangolin ID; alt is another value of the same length.
			_, size := utf8.DecodeRuneInString(id)
			alt := "#" + id[size:]
			m := mustCreate(t, s, store.Mapping{Customer: id, Audience: id, PangolinID: alt})
			wantLookup(t, s, id, id, m)
			wantLookup(t, s, id, alt, m)
			wantNotFound(t, s, alt, id)

			c := "customer " + name
			p := mustCreate(t, s, store.Mapping{Customer: c, Audience: alt, PangolinID: id})
			wantLookup(t, s, c, id, p)
			wantLookup(t, s, c, alt, p)
		})
	}
}

func testInvalid(t *testing.T, s store.Store) {
	long := strings.Repeat("x", store.MaxIDLength+1)
	valid := mapping("123", "aud", "1000000001")
	with := func(change func(*store.Mapping)) store.Mapping {
		m := valid
		change(&m)
		return m
	}
	creates := []struct {
		name  string
		m     store.Mapping
		field string
	}{
		{"empty customer", with(func(m *store.Mapping) { m.Customer = "" }), "customer"},
		{"empty audience", with(func(m *store.Mapping) { m.Audience = "" }), "audience"},
		{"empty Pangolin ID", with(func(m *store.Mapping) { m.PangolinID = "" }), "Pangolin ID"},
		{"long audience", with(func(m *store.Mapping) { m.Audience = long }), "audience"},
		{"bad UTF-8", with(func(m *store.Mapping) { m.PangolinID = "\xff" }), "Pangolin ID"},
		{"long name", with(func(m *store.Mapping) {
			m.Name = strings.Repeat("n", store.MaxNameLength+1)
		}), "name"},
	}
	for _, tt := range creates {
		_, created, err := s.Create(context.Background(), tt.m)
		if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), tt.field) || created {
			t.Errorf("%s: Create = created %v, %v; want ErrInvalid naming %q",
				tt.name, created, err, tt.field)
		}
	}
	wantNotFound(t, s, "123", "aud")

	lookups := []struct{ customer, id, field string }{
		{"", "aud", "customer"},
		{"123", "", "audience ID"},
		{"123", long, "audience ID"},
	}
	for _, tt := range lookups {
		_, err := s.Lookup(context.Background(), tt.customer, tt.id)
		if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), tt.field) {
			t.Errorf("Lookup(%q, %.20q) = %v; want ErrInvalid naming %q",
				tt.customer, tt.id, err, tt.field)
		}
	}
}

func testConflict(t *testing.T, s store.Store) {
	first := mustCreate(t, s, mapping("123", "aud-1", "1000000001"))
	_, created, err := s.Create(context.Background(), mapping("123", "aud-2", "1000000001"))
	if !errors.Is(err, store.ErrConflict) || created {
		t.Errorf("Create(aud-2 with aud-1's Pangolin ID) = created %v, %v; want ErrConflict",
			created, err)
	}
	wantNotFound(t, s, "123", "aud-2")
	wantLookup(t, s, "123", "1000000001", first)

	// Another customer may hold the same Pangolin ID: IDs are per customer.
	mustCreate(t, s, mapping("456", "aud-2", "1000000001"))
}

func testCreatedAt(t *testing.T, s store.Store) {
	before := time.Now().Truncate(time.Microsecond)
	got := mustCreate(t, s, mapping("123", "now", "1"))
	after := time.Now()
	if got.CreatedAt.Before(before) || got.CreatedAt.After(after) {
		t.Errorf("Create(zero CreatedAt).CreatedAt = %v, want between %v and %v",
			got.CreatedAt, before, after)
	}
	wantLookup(t, s, "123", "now", got)

	given := mapping("123", "given", "2")
	given.CreatedAt = time.Date(2026, 12, 3, 13, 0, 0, 123456789, time.FixedZone("CET", 3600))
	got = mustCreate(t, s, given)
	want := time.Date(2026, 12, 3, 12, 0, 0, 123456000, time.UTC)
	if !got.CreatedAt.Equal(want) || got.CreatedAt.Location() != time.UTC {
		t.Errorf("Create(CreatedAt %v).CreatedAt = %v, want %v", given.CreatedAt, got.CreatedAt, want)
	}
	wantLookup(t, s, "123", "2", got)
}

func testConcurrentCreates(t *testing.T, s store.Store) {
	const callers = 16
	var wg sync.WaitGroup
	results := make([]store.Mapping, callers)
	created := make([]bool, callers)
	errs := make([]error, callers)
	start := make(chan struct{})
	for i := range callers {
		wg.Go(func() {
			<-start
			// Each caller brings its own Pangolin ID, as if each had created
			// a Pangolin audience of its own.
			m := mapping("123", "raced", fmt.Sprintf("p-%d", i))
			results[i], created[i], errs[i] = s.Create(context.Background(), m)
		})
	}
	close(start)
	wg.Wait()

	winners := 0
	for i := range callers {
		if errs[i] != nil {
			t.Fatalf("caller %d: Create = %v", i, errs[i])
		}
		if created[i] {
			winners++
		}
		if !equal(results[i], results[0]) {
			t.Errorf("caller %d got %+v, caller 0 got %+v", i, results[i], results[0])
		}
	}
	if winners != 1 {
		t.Errorf("%d callers created the mapping, want 1", winners)
	}
	wantLookup(t, s, "123", "raced", results[0])
	for i := range callers {
		if id := fmt.Sprintf("p-%d", i); id != results[0].PangolinID {
			wantNotFound(t, s, "123", id)
		}
	}
}

func testClosed(t *testing.T, s store.Store) {
	mustCreate(t, s, mapping("123", "aud", "1"))
	if err := s.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close() = %v, want nil", err)
	}
	_, _, err := s.Create(context.Background(), mapping("123", "b", "2"))
	if !errors.Is(err, store.ErrClosed) {
		t.Errorf("Create after Close = %v, want ErrClosed", err)
	}
	_, err = s.Lookup(context.Background(), "123", "aud")
	if !errors.Is(err, store.ErrClosed) {
		t.Errorf("Lookup after Close = %v, want ErrClosed", err)
	}
}
