package pangolin

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
)

func TestMemberSetMatchesAMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var m memberSet
	want := map[string]bool{}
	for round := range 300 {
		var add, remove []string
		for range rng.IntN(40) {
			add = append(add, strconv.Itoa(rng.IntN(200)))
		}
		for range rng.IntN(40) {
			id := strconv.Itoa(rng.IntN(200))
			if !slices.Contains(add, id) {
				remove = append(remove, id)
			}
		}
		adds, removes := m.changes(add, remove)
		wantAdded, wantRemoved := 0, 0
		for _, id := range sortedUnique(add) {
			if !want[id] {
				wantAdded++
				want[id] = true
			}
		}
		for _, id := range sortedUnique(remove) {
			if want[id] {
				wantRemoved++
				delete(want, id)
			}
		}
		m.apply(adds, removes)
		if len(adds) != wantAdded || len(removes) != wantRemoved {
			t.Fatalf("round %d: changes() = %d adds, %d removes; want %d, %d", round, len(adds),
				len(removes), wantAdded, wantRemoved)
		}
		if m.len() != len(want) || !strictlySorted(m.ids) {
			t.Fatalf("round %d: %d members (sorted %v), want %d", round, m.len(),
				strictlySorted(m.ids), len(want))
		}
		for id := range want {
			if !m.has(id) {
				t.Fatalf("round %d: has(%s) = false", round, id)
			}
		}
	}
}

func TestMemberSetPage(t *testing.T) {
	m := memberSet{ids: []string{"a", "b", "c", "d"}}
	tests := []struct {
		after string
		size  int
		want  []string
		more  bool
	}{
		{"", 2, []string{"a", "b"}, true},
		{"b", 2, []string{"c", "d"}, false},
		{"bb", 1, []string{"c"}, true}, // a token whose member was removed
		{"d", 2, []string{}, false},
		{"", 10, []string{"a", "b", "c", "d"}, false},
	}
	for _, tt := range tests {
		got, more := m.page(tt.after, tt.size)
		if !slices.Equal(got, tt.want) || more != tt.more {
			t.Errorf("page(%q, %d) = %v, %v; want %v, %v", tt.after, tt.size, got, more,
				tt.want, tt.more)
		}
	}
}
