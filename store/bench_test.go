package store_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/dmp-diy/diy/store"
)

// BenchmarkLookup measures mapping lookups from parallel goroutines,
// alternating between DMP audience IDs and Pangolin IDs of 200 mappings.
func BenchmarkLookup(b *testing.B) {
	stores := []struct {
		name string
		open func(testing.TB) store.Store
	}{
		{"bolt", newBolt},
		{"firestore", newFirestore},
	}
	for _, st := range stores {
		b.Run(st.name, func(b *testing.B) {
			benchmarkLookup(b, st.open(b))
		})
	}
}

func benchmarkLookup(b *testing.B, s store.Store) {
	const mappings = 200
	ctx := context.Background()
	ids := make([]string, 0, 2*mappings)
	for i := range mappings {
		m := mapping("123", fmt.Sprintf("a%08d.%d", i, i*7919), fmt.Sprint(1000000000+i))
		if _, _, err := s.Create(ctx, m); err != nil {
			b.Fatalf("Create = %v", err)
		}
		ids = append(ids, m.Audience, m.PangolinID)
	}

	var next atomic.Uint64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := ids[next.Add(1)%uint64(len(ids))]
			if _, err := s.Lookup(ctx, "123", id); err != nil {
				b.Errorf("Lookup(%q) = %v", id, err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
}
