package main

import (
	"context"
	"errors"
	"testing"
	"time"
)

// streamTo streams n mutations of seed over audiences to url.
func streamTo(t *testing.T, url string, stats *Stats, s *Streamer, n int) (
	StreamResult, *Model, []LiveAudience, error) {
	t.Helper()
	ep, err := NewEndpoint(url, EndpointOptions{Secret: "s", Timeout: 5 * time.Second,
		Stats: stats, RetryMax: 10 * time.Second, RetryMin: time.Millisecond})
	if err != nil {
		t.Fatalf("NewEndpoint() = %v", err)
	}
	u := NewUniverse(5, 2, 8, 60)
	model := NewModel(len(u.Audiences))
	for _, a := range u.Audiences {
		s.Audiences = append(s.Audiences, LiveAudience{SimAudience: a, CallID: a.DMPID})
	}
	s.Endpoint, s.Limit = ep, n
	res, err := s.Run(context.Background(), NewGenerator(5, u, model, 0.4))
	return res, model, s.Audiences, err
}

func TestStreamKeepsOrderThroughRetries(t *testing.T) {
	// Every fifth request fails before it is applied; every seventh is
	// applied but its answer is lost. Both are sent again.
	fake, url := newFakeEndpoint(t, &fakeEndpoint{secret: "s", fail: func(n int) int {
		switch {
		case n%5 == 0:
			return 503
		case n%7 == 0:
			return -502
		}
		return 0
	}})
	stats := NewStats()
	res, model, auds, err := streamTo(t, url, stats,
		&Streamer{Workers: 3, BatchSize: 20, Interval: 5 * time.Millisecond}, 2000)
	if err != nil {
		t.Fatalf("Streamer.Run() = %v, want nil", err)
	}
	if got := res.Generated[Add] + res.Generated[Remove]; got != 2000 {
		t.Errorf("generated %d mutations, want 2000", got)
	}
	if got := res.Acked[Add] + res.Acked[Remove]; got != 2000 {
		t.Errorf("acknowledged %d mutations, want 2000", got)
	}
	requests, overlaps := fake.counts()
	if overlaps != 0 {
		t.Errorf("%d times two requests about one audience were in flight together", overlaps)
	}
	if r := retries(stats.Summary()); r == 0 || r != requests-res.Requests {
		t.Errorf("retries counted = %d, want the %d failed answers", r, requests-res.Requests)
	}
	for _, a := range auds {
		got, want := fake.members(a.CallID), model.Members(a.Index)
		if len(got) != len(want) {
			t.Errorf("audience %d: endpoint has %d members, model %d", a.Index, len(got), len(want))
			continue
		}
		for _, u := range want {
			if !got[u] {
				t.Errorf("audience %d: endpoint lacks expected member %s", a.Index, u)
				break
			}
		}
	}
}

func TestStreamFailsOnClientError(t *testing.T) {
	_, url := newFakeEndpoint(t, &fakeEndpoint{secret: "s", fail: func(n int) int {
		if n == 3 {
			return 400
		}
		return 0
	}})
	_, _, _, err := streamTo(t, url, NewStats(),
		&Streamer{Workers: 2, BatchSize: 10, Interval: time.Millisecond}, 500)
	var se *StatusError
	if !errors.Is(err, ErrRequestFailed) || !errors.As(err, &se) || se.Status != 400 {
		t.Fatalf("Streamer.Run() = %v, want ErrRequestFailed with a 400", err)
	}
	if se.Message != "scripted failure" {
		t.Errorf("StatusError.Message = %q, want the body's error sentence", se.Message)
	}
}

func TestStreamSendsPartialBatchesAfterInterval(t *testing.T) {
	fake, url := newFakeEndpoint(t, &fakeEndpoint{secret: "s"})
	// 10 mutations at 100/s into batches of 100: without the interval they
	// would all wait for the end of the stream and leave in one request.
	res, _, _, err := streamTo(t, url, NewStats(), &Streamer{Workers: 1, BatchSize: 100,
		Interval: 5 * time.Millisecond, Rate: 100}, 10)
	if err != nil {
		t.Fatalf("Streamer.Run() = %v", err)
	}
	if requests, _ := fake.counts(); res.Requests < 3 || requests != res.Requests {
		t.Errorf("requests = %d (endpoint saw %d), want several partial batches", res.Requests,
			requests)
	}
}

func TestStreamStopsAtMaxTime(t *testing.T) {
	_, url := newFakeEndpoint(t, &fakeEndpoint{secret: "s"})
	start := time.Now()
	res, _, _, err := streamTo(t, url, NewStats(), &Streamer{Workers: 2, BatchSize: 100,
		Interval: 10 * time.Millisecond, Rate: 200, MaxTime: 100 * time.Millisecond}, 0)
	if err != nil {
		t.Fatalf("Streamer.Run() = %v", err)
	}
	n := res.Generated[Add] + res.Generated[Remove]
	if n == 0 || n > 40 || time.Since(start) > 5*time.Second {
		t.Errorf("generated %d mutations in %s, want about 20 in 100ms", n, time.Since(start))
	}
	if acked := res.Acked[Add] + res.Acked[Remove]; acked != n {
		t.Errorf("acknowledged %d of %d generated mutations", acked, n)
	}
}
