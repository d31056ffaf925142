package main

import (
	"testing"
	"time"
)

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func TestPercentile(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = ms(i + 1)
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"none", nil, 99, 0},
		{"one value", []time.Duration{ms(7)}, 50, ms(7)},
		{"p50 of 1..100", hundred, 50, ms(50)},
		{"p95 of 1..100", hundred, 95, ms(95)},
		{"p99 of 1..100", hundred, 99, ms(99)},
		{"max of 1..100", hundred, 100, ms(100)},
		{"p99 of ten is the largest", []time.Duration{ms(1), ms(2), ms(3), ms(4), ms(5),
			ms(6), ms(7), ms(8), ms(9), ms(10)}, 99, ms(10)},
		{"p50 of four is the second", []time.Duration{ms(1), ms(2), ms(3), ms(4)}, 50, ms(2)},
		{"p50 of five is the third", []time.Duration{ms(1), ms(2), ms(3), ms(4), ms(5)}, 50, ms(3)},
		{"tiny p is the smallest", []time.Duration{ms(1), ms(2)}, 0.1, ms(1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("Percentile(%d values, %g) = %s, want %s", len(tt.sorted), tt.p, got,
					tt.want)
			}
		})
	}
}

func TestStatsSummary(t *testing.T) {
	s := NewStats()
	for i := 100; i >= 1; i-- { // out of order on purpose
		s.Record(callAdd, 200, ms(i))
	}
	s.Record(callAdd, 503, ms(500))
	s.Retry(callAdd)
	s.Record(callGet, statusNetError, ms(3))
	s.Record("FUTURE", 200, ms(1))

	sum := s.Summary()
	var types []string
	for _, ts := range sum {
		types = append(types, ts.Type)
	}
	if want := []string{callGet, callAdd, "FUTURE"}; len(types) != 3 || types[0] != want[0] ||
		types[1] != want[1] || types[2] != want[2] {
		t.Fatalf("Summary() types = %q, want %q", types, want)
	}
	add := sum[1]
	if add.Requests != 101 || add.Retries != 1 || add.Statuses[200] != 100 ||
		add.Statuses[503] != 1 {
		t.Errorf("ADD summary = %+v, want 101 requests, 1 retry, 100×200, 1×503", add)
	}
	if add.P50 != ms(51) || add.P99 != ms(100) || add.Max != ms(500) {
		t.Errorf("ADD p50, p99, max = %s, %s, %s; want 51ms, 100ms, 500ms", add.P50, add.P99,
			add.Max)
	}
	if sum[0].Statuses[statusNetError] != 1 {
		t.Errorf("GET statuses = %v, want one attempt without an answer", sum[0].Statuses)
	}
}
