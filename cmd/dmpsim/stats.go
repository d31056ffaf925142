package main

import (
	"cmp"
	"maps"
	"math"
	"slices"
	"sync"
	"time"
)

// statusNetError stands for an attempt that got no HTTP answer at all.
const statusNetError = 0

// Stats records every request attempt by call type: its status and its
// latency. Safe for concurrent use.
type Stats struct {
	mu     sync.Mutex
	byType map[string]*typeStats
}

type typeStats struct {
	statuses  map[int]int
	latencies []time.Duration
	retries   int
}

// NewStats returns empty Stats.
func NewStats() *Stats { return &Stats{byType: make(map[string]*typeStats)} }

func (s *Stats) get(typ string) *typeStats {
	t := s.byType[typ]
	if t == nil {
		t = &typeStats{statuses: make(map[int]int)}
		s.byType[typ] = t
	}
	return t
}

// Record notes one attempt of a call of type typ: its HTTP status
// (statusNetError when none came) and how long it took.
func (s *Stats) Record(typ string, status int, took time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.get(typ)
	t.statuses[status]++
	t.latencies = append(t.latencies, took)
}

// Retry notes that a call of type typ is being sent again.
func (s *Stats) Retry(typ string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.get(typ).retries++
}

// TypeSummary is what Stats know about one call type.
type TypeSummary struct {
	Type               string
	Requests           int         // attempts, retries included
	Retries            int         // attempts that repeated an earlier one
	Statuses           map[int]int // attempts by HTTP status; 0 = no answer
	P50, P95, P99, Max time.Duration
}

// callOrder is the order in which reports list call types; others follow
// in alphabetical order.
var callOrder = []string{callGet, callValidate, callCreate, callAdd, callRemove}

// Summary returns a summary per call type that was sent.
func (s *Stats) Summary() []TypeSummary {
	s.mu.Lock()
	defer s.mu.Unlock()
	var types []string
	for typ := range s.byType {
		types = append(types, typ)
	}
	slices.SortFunc(types, func(a, b string) int {
		ia, ib := rank(a), rank(b)
		if ia != ib {
			return ia - ib
		}
		return cmp.Compare(a, b)
	})
	out := make([]TypeSummary, 0, len(types))
	for _, typ := range types {
		t := s.byType[typ]
		sorted := slices.Clone(t.latencies)
		slices.Sort(sorted)
		out = append(out, TypeSummary{
			Type: typ, Requests: len(sorted), Retries: t.retries, Statuses: maps.Clone(t.statuses),
			P50: Percentile(sorted, 50), P95: Percentile(sorted, 95),
			P99: Percentile(sorted, 99), Max: Percentile(sorted, 100),
		})
	}
	return out
}

func rank(typ string) int {
	if i := slices.Index(callOrder, typ); i >= 0 {
		return i
	}
	return len(callOrder)
}

// Percentile is the p-th percentile (0 < p <= 100) of sorted by the
// nearest-rank method: the smallest value that at least p percent of the
// values do not exceed. It is 0 for no values.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}
