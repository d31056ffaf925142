package main

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

func mut(k Kind, aud int, user string) Mutation {
	return Mutation{Kind: k, Audience: aud, User: User{UUID: "u-" + user, External: user}}
}

// shape describes batches as kind and users, for comparison.
func shape(bs []Batch) []string {
	var out []string
	for _, b := range bs {
		s := b.Kind.CallType()[:3]
		for _, m := range b.Mutations {
			s += " " + m.User.External
		}
		out = append(out, s)
	}
	return out
}

func TestBatcherFlushesAtMaxUsers(t *testing.T) {
	b := NewBatcher(100, time.Second)
	for i := range 99 {
		if got := b.Add(mut(Add, i%3, fmt.Sprint("u", i)), t0); got != nil {
			t.Fatalf("Add(#%d) = %v, want nothing yet", i+1, shape(got))
		}
	}
	got := b.Add(mut(Add, 1, "last"), t0)
	if len(got) != 1 || len(got[0].Mutations) != 100 || got[0].Kind != Add {
		t.Fatalf("Add(#100) = %d batches, want one of 100 ADDs", len(got))
	}
	if _, ok := b.NextDue(); ok {
		t.Errorf("NextDue() after the flush = true, want no open batch")
	}
}

func TestBatcherFlushesAfterInterval(t *testing.T) {
	b := NewBatcher(100, time.Second)
	b.Add(mut(Add, 0, "a"), t0)
	b.Add(mut(Remove, 0, "b"), t0.Add(300*time.Millisecond))
	b.Add(mut(Add, 0, "c"), t0.Add(600*time.Millisecond))
	if due, ok := b.NextDue(); !ok || !due.Equal(t0.Add(time.Second)) {
		t.Errorf("NextDue() = %v, %v; want %v", due, ok, t0.Add(time.Second))
	}
	if got := b.Due(t0.Add(999 * time.Millisecond)); got != nil {
		t.Errorf("Due(999ms) = %v, want nothing", shape(got))
	}
	got, want := shape(b.Due(t0.Add(time.Second))), []string{"ADD a c"}
	if !slices.Equal(got, want) {
		t.Errorf("Due(1s) = %q, want %q", got, want)
	}
	if due, _ := b.NextDue(); !due.Equal(t0.Add(1300 * time.Millisecond)) {
		t.Errorf("NextDue() = %v, want the REMOVE batch's 1.3s", due)
	}
	got, want = shape(b.Due(t0.Add(2*time.Second))), []string{"REM b"}
	if !slices.Equal(got, want) {
		t.Errorf("Due(2s) = %q, want %q", got, want)
	}
}

func TestBatcherKeepsOrderPerUser(t *testing.T) {
	tests := []struct {
		name string
		muts []Mutation
		want []string // batches released by Add, then by Flush
	}{
		{"kinds batch apart", []Mutation{mut(Add, 0, "a"), mut(Remove, 0, "b"), mut(Add, 0, "c")},
			[]string{"ADD a c", "REM b"}},
		{"remove of a pending add sends the add first",
			[]Mutation{mut(Add, 0, "a"), mut(Add, 0, "b"), mut(Remove, 0, "a")},
			[]string{"ADD a b", "REM a"}},
		{"add of a pending remove sends the remove first",
			[]Mutation{mut(Remove, 0, "a"), mut(Add, 0, "x"), mut(Add, 0, "a")},
			[]string{"REM a", "ADD x a"}},
		{"same user in another audience does not conflict",
			[]Mutation{mut(Add, 0, "a"), mut(Remove, 1, "a")}, []string{"ADD a", "REM a"}},
		{"add, remove, add", []Mutation{mut(Add, 0, "a"), mut(Remove, 0, "a"), mut(Add, 0, "a")},
			[]string{"ADD a", "REM a", "ADD a"}},
		{"repeated add stays in one batch", []Mutation{mut(Add, 0, "a"), mut(Add, 0, "a")},
			[]string{"ADD a a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := NewBatcher(100, time.Second)
			var got []Batch
			for i, m := range tt.muts {
				got = append(got, b.Add(m, t0.Add(time.Duration(i)*time.Millisecond))...)
			}
			got = append(got, b.Flush()...)
			if !slices.Equal(shape(got), tt.want) {
				t.Errorf("batches = %q, want %q", shape(got), tt.want)
			}
		})
	}
}

func TestBatcherFlushOldestFirst(t *testing.T) {
	b := NewBatcher(0, 0) // the DMP's values
	if b.MaxUsers != DefaultBatchSize || b.Interval != DefaultBatchInterval {
		t.Errorf("NewBatcher(0, 0) = %d, %s; want the DMP's 100, 1s", b.MaxUsers, b.Interval)
	}
	b.Add(mut(Remove, 0, "r"), t0)
	b.Add(mut(Add, 0, "a"), t0.Add(time.Millisecond))
	if got, want := shape(b.Flush()), []string{"REM r", "ADD a"}; !slices.Equal(got, want) {
		t.Errorf("Flush() = %q, want %q", got, want)
	}
	if got := b.Flush(); got != nil {
		t.Errorf("second Flush() = %q, want nothing", shape(got))
	}
}
