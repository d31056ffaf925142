package pangolin

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Faults make the server behave like a platform under strain. The zero value
// injects nothing.
type Faults struct {
	RateLimit   float64       // requests per second per API key; 0 = unlimited
	Burst       int           // token bucket size (default max(1, ceil(RateLimit)))
	FailureRate float64       // fraction of calls (0..1) answered 503
	Latency     time.Duration // added to every call
}

// validate reports settings out of range.
func (f Faults) validate() error {
	switch {
	case f.RateLimit < 0 || math.IsNaN(f.RateLimit) || math.IsInf(f.RateLimit, 0):
		return errors.New("faults: RateLimit must be a finite number >= 0")
	case f.Burst < 0:
		return errors.New("faults: Burst must be >= 0")
	case !(f.FailureRate >= 0 && f.FailureRate <= 1):
		return errors.New("faults: FailureRate must be within 0..1")
	case f.Latency < 0:
		return errors.New("faults: Latency must be >= 0")
	}
	return nil
}

// clamped brings every setting into range.
func (f Faults) clamped() Faults {
	if !(f.RateLimit > 0) || math.IsInf(f.RateLimit, 0) {
		f.RateLimit = 0
	}
	f.Burst = max(f.Burst, 0)
	if !(f.FailureRate > 0) {
		f.FailureRate = 0
	}
	f.FailureRate = min(f.FailureRate, 1)
	f.Latency = max(f.Latency, 0)
	return f
}

// burst is the bucket size in use.
func (f Faults) burst() int {
	if f.Burst > 0 {
		return f.Burst
	}
	return max(1, int(math.Ceil(f.RateLimit)))
}

// faultInjector applies Faults to API calls. It is safe for concurrent use.
type faultInjector struct {
	mu       sync.Mutex
	f        Faults
	limiters map[string]*rate.Limiter // by account
	rng      *rand.Rand
}

func newFaultInjector(f Faults, seed int64) (*faultInjector, error) {
	if err := f.validate(); err != nil {
		return nil, err
	}
	if seed == 0 {
		seed = time.Now().UnixNano()
	}
	return &faultInjector{
		f:        f,
		limiters: map[string]*rate.Limiter{},
		rng:      rand.New(rand.NewPCG(uint64(seed), uint64(seed)>>1^0x9e3779b97f4a7c15)),
	}, nil
}

func (fi *faultInjector) set(f Faults) {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	fi.f = f.clamped()
	fi.limiters = map[string]*rate.Limiter{}
}

// admit decides the fate of one call of the account: retryAfter > 0 means
// answer 429 with that wait; fail means answer 503. Otherwise it waits the
// configured latency (or until ctx ends) and lets the call through.
func (fi *faultInjector) admit(ctx context.Context, account string) (
	retryAfter time.Duration, fail bool) {
	fi.mu.Lock()
	f := fi.f
	retryAfter = fi.limitLocked(account)
	fail = retryAfter == 0 && f.FailureRate > 0 && fi.rng.Float64() < f.FailureRate
	fi.mu.Unlock()

	if retryAfter > 0 || f.Latency == 0 {
		return retryAfter, fail
	}
	t := time.NewTimer(f.Latency)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	return 0, fail
}

// limitLocked takes a token from the account's bucket, or reports how long,
// in whole seconds and at least one, until one will be there.
func (fi *faultInjector) limitLocked(account string) time.Duration {
	if fi.f.RateLimit == 0 {
		return 0
	}
	lim := fi.limiters[account]
	if lim == nil {
		lim = rate.NewLimiter(rate.Limit(fi.f.RateLimit), fi.f.burst())
		fi.limiters[account] = lim
	}
	res := lim.Reserve()
	delay := res.Delay()
	if delay == 0 {
		return 0
	}
	res.Cancel()
	return max(time.Second, time.Duration(math.Ceil(delay.Seconds()))*time.Second)
}
