package main

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestModel(t *testing.T) {
	tests := []struct {
		name string
		ops  func(m *Model)
		want [][]string
	}{
		{"empty", func(*Model) {}, [][]string{nil, nil}},
		{"add", func(m *Model) { m.Add(0, "b"); m.Add(0, "a") }, [][]string{{"a", "b"}, nil}},
		{"add twice is one member", func(m *Model) { m.Add(1, "a"); m.Add(1, "a") },
			[][]string{nil, {"a"}}},
		{"remove", func(m *Model) { m.Add(0, "a"); m.Add(0, "b"); m.Remove(0, "a") },
			[][]string{{"b"}, nil}},
		{"remove a non-member",
			func(m *Model) { m.Add(0, "a"); m.Remove(0, "z"); m.Remove(1, "a") },
			[][]string{{"a"}, nil}},
		{"audiences are apart", func(m *Model) { m.Add(0, "a"); m.Add(1, "b"); m.Remove(0, "b") },
			[][]string{{"a"}, {"b"}}},
		{"re-add after remove", func(m *Model) { m.Add(0, "a"); m.Remove(0, "a"); m.Add(0, "a") },
			[][]string{{"a"}, nil}},
		{"remove the middle keeps the rest", func(m *Model) {
			for _, u := range []string{"a", "b", "c", "d"} {
				m.Add(0, u)
			}
			m.Remove(0, "b")
			m.Remove(0, "d")
		}, [][]string{{"a", "c"}, nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewModel(2)
			tt.ops(m)
			total := 0
			for aud, want := range tt.want {
				got := m.Members(aud)
				if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
					t.Errorf("Members(%d) = %q, want %q", aud, got, want)
				}
				if m.Len(aud) != len(want) {
					t.Errorf("Len(%d) = %d, want %d", aud, m.Len(aud), len(want))
				}
				for _, u := range want {
					if !m.Has(aud, u) {
						t.Errorf("Has(%d, %q) = false, want true", aud, u)
					}
				}
				total += len(want)
			}
			if m.Total() != total {
				t.Errorf("Total() = %d, want %d", m.Total(), total)
			}
		})
	}
}

func TestModelPick(t *testing.T) {
	m := NewModel(2)
	r := rand.New(rand.NewPCG(1, 2))
	if u, ok := m.Pick(0, r); ok {
		t.Errorf("Pick(empty) = %q, true; want false", u)
	}
	for _, u := range []string{"a", "b", "c"} {
		m.Add(0, u)
	}
	seen := map[string]bool{}
	for range 100 {
		u, ok := m.Pick(0, r)
		if !ok || !m.Has(0, u) {
			t.Fatalf("Pick() = %q, %v; want a member", u, ok)
		}
		seen[u] = true
	}
	if len(seen) != 3 {
		t.Errorf("100 picks saw %v, want every member", seen)
	}
}
