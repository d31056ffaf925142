package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Streamer sends the generated mutations the way the DMP does. Audiences
// are split over workers (audience i to worker i mod workers); a worker
// batches only its own audiences' mutations and sends its requests one at
// a time, retrying failures a retry can fix before anything newer. So no
// two requests about one (audience, user) are ever in flight together,
// and the platform's final state is the model's. A Streamer runs once.
type Streamer struct {
	Endpoint  *Endpoint
	Audiences []LiveAudience
	Workers   int
	BatchSize int
	Interval  time.Duration
	Rate      float64       // mutations per second; 0 = as fast as possible
	Limit     int           // mutations to send; 0 = until MaxTime
	MaxTime   time.Duration // cap on generating; 0 = none
	Progress  func(acked int)

	acked    [2]atomic.Int64 // by Kind, answered 200
	skipped  atomic.Int64
	requests atomic.Int64
}

// StreamResult is what a stream did.
type StreamResult struct {
	Generated [2]int // by Kind
	Acked     [2]int // by Kind
	Skipped   int    // mutations the endpoint said it skipped
	Requests  int    // mutation requests answered 200
	Took      time.Duration
}

// Run streams gen's mutations until Limit or MaxTime, then sends what the
// workers still hold. It stops at the first failure no retry can fix and
// returns it; the result still says what was done.
func (s *Streamer) Run(ctx context.Context, gen *Generator) (StreamResult, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	workers := max(1, min(s.Workers, len(s.Audiences)))
	inputs := make([]chan Mutation, workers)
	var wg sync.WaitGroup
	for i := range inputs {
		inputs[i] = make(chan Mutation, 2*s.BatchSize)
		in := inputs[i]
		wg.Go(func() {
			if err := s.work(ctx, in); err != nil {
				cancel(err)
			}
		})
	}

	start := time.Now()
	res := StreamResult{}
	res.Generated = s.generate(ctx, gen, inputs)
	for _, in := range inputs {
		close(in)
	}
	wg.Wait()
	res.Took = time.Since(start)
	res.Acked = [2]int{int(s.acked[Add].Load()), int(s.acked[Remove].Load())}
	res.Skipped, res.Requests = int(s.skipped.Load()), int(s.requests.Load())
	return res, context.Cause(ctx)
}

// generate hands mutations to their workers at the configured rate. A
// mutation is in the model once generated, so it is always handed over,
// even when MaxTime passes meanwhile; only a failed run drops it.
func (s *Streamer) generate(ctx context.Context, gen *Generator, inputs []chan Mutation) [2]int {
	var n [2]int
	genCtx := ctx
	if s.MaxTime > 0 {
		var cancel context.CancelFunc
		genCtx, cancel = context.WithTimeout(ctx, s.MaxTime)
		defer cancel()
	}
	limiter := rate.NewLimiter(rate.Inf, 1)
	if s.Rate > 0 {
		limiter = rate.NewLimiter(rate.Limit(s.Rate), max(1, int(s.Rate/100)))
	}
	for i := 0; s.Limit == 0 || i < s.Limit; i++ {
		if genCtx.Err() != nil || limiter.Wait(genCtx) != nil {
			break
		}
		m := gen.Next()
		select {
		case inputs[m.Audience%len(inputs)] <- m:
			n[m.Kind]++
		case <-ctx.Done():
			return n
		}
	}
	return n
}

// work batches one worker's mutations and sends the batches in order.
func (s *Streamer) work(ctx context.Context, in <-chan Mutation) error {
	b := NewBatcher(s.BatchSize, s.Interval)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		var due <-chan time.Time
		if at, ok := b.NextDue(); ok {
			timer.Reset(time.Until(at))
			due = timer.C
		}
		var err error
		select {
		case m, ok := <-in:
			if !ok {
				return s.send(ctx, b.Flush())
			}
			err = s.send(ctx, b.Add(m, time.Now()))
		case <-due:
			err = s.send(ctx, b.Due(time.Now()))
		case <-ctx.Done():
			return nil // the run already failed; its cause is recorded
		}
		if err != nil {
			return err
		}
	}
}

// ErrRequestFailed wraps a mutation request no retry could get through.
var ErrRequestFailed = errors.New("a mutation request failed")

// send sends batches one at a time; each is retried until it is accepted
// before the next is sent.
func (s *Streamer) send(ctx context.Context, batches []Batch) error {
	for _, b := range batches {
		body, err := encodeBatch(b, s.Audiences)
		if err != nil {
			return err
		}
		a, err := s.Endpoint.Call(ctx, b.Kind.CallType(), body)
		if err != nil {
			if ctx.Err() != nil {
				return nil // the run already failed; its cause is recorded
			}
			return fmt.Errorf("%w: %d mutations: %w", ErrRequestFailed, len(b.Mutations), err)
		}
		s.requests.Add(1)
		s.acked[b.Kind].Add(int64(len(b.Mutations)))
		s.skipped.Add(int64(skippedCount(a.Body)))
		if s.Progress != nil {
			s.Progress(len(b.Mutations))
		}
	}
	return nil
}
