package pangolin

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// newBackOff returns the waits between attempts: from 100ms, doubling up to
// 5s, each randomized by ±50% so that many clients do not retry in step.
func newBackOff() *backoff.ExponentialBackOff {
	b := &backoff.ExponentialBackOff{
		InitialInterval:     100 * time.Millisecond,
		RandomizationFactor: 0.5,
		Multiplier:          2,
		MaxInterval:         5 * time.Second,
	}
	b.Reset()
	return b
}

// retry runs op until it succeeds, fails in a way no retry can fix, or the
// context ends. maxElapsed bounds the whole when ctx has no deadline. A
// retry never starts when its wait would end after the deadline: the call
// gives up at once instead.
func retry(ctx context.Context, maxElapsed time.Duration, op func(context.Context) error) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, maxElapsed)
		defer cancel()
	}
	b := newBackOff()
	var last error // the last failure a retry could fix
	for attempt := 1; ; attempt++ {
		err := op(ctx)
		if err == nil {
			return nil
		}
		if !retryable(err) {
			return err
		}
		if ctx.Err() != nil {
			// A failed connection now is most likely the context's doing; an
			// answer is worth reporting.
			var te *transportError
			if !errors.As(err, &te) {
				last = err
			}
			return giveUp(attempt, last, ctx.Err())
		}
		last = err

		wait := waitBefore(err, b)
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return &retryError{attempts: attempt, last: err, cause: context.DeadlineExceeded,
				early: true}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return giveUp(attempt, last, ctx.Err())
		case <-t.C:
		}
	}
}

// waitBefore is the wait before the next attempt: the backoff, but at least
// the server's Retry-After plus up to 10% of it as jitter.
func waitBefore(err error, b *backoff.ExponentialBackOff) time.Duration {
	wait := b.NextBackOff()
	var ae *APIError
	if errors.As(err, &ae) && ae.RetryAfter > 0 {
		jitter := time.Duration(rand.Int64N(int64(ae.RetryAfter)/10 + 1))
		wait = max(wait, ae.RetryAfter+jitter)
	}
	return wait
}

// retryable reports whether another attempt may succeed: 429, 5xx server
// trouble and failures to reach the server. Every call of this API is
// idempotent (create by external ID, batchUpdate by its set semantics), so
// repeating one is safe.
func retryable(err error) bool {
	var ae *APIError
	if errors.As(err, &ae) {
		switch ae.Status {
		case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
			http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return true
		}
		return false
	}
	var te *transportError
	return errors.As(err, &te)
}

// giveUp builds the error of a call whose context ended: it wraps the
// context's error and the last failure worth retrying, if there was one.
func giveUp(attempts int, last, ctxErr error) error {
	if last == nil {
		return fmt.Errorf("gave up after %d attempt(s): %w", attempts, ctxErr)
	}
	return &retryError{attempts: attempts, last: last, cause: ctxErr}
}

// retryError is returned when retries stop because the context ended (or
// would end before the next attempt). errors.Is matches both the context's
// error and the last failure's sentinel.
type retryError struct {
	attempts int
	last     error
	cause    error
	early    bool // the next wait would have passed the deadline
}

func (e *retryError) Error() string {
	why := e.cause.Error()
	if e.early {
		why = "the next attempt would start after the deadline"
	}
	return fmt.Sprintf("gave up after %d attempt(s): %s; last error: %v",
		e.attempts, why, e.last)
}

func (e *retryError) Unwrap() []error { return []error{e.cause, e.last} }
