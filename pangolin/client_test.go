package pangolin_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dmp-diy/diy/pangolin"
)

func TestClientErrors(t *testing.T) {
	t.Parallel()
	_, url := startServer(t, pangolin.ServerOptions{})
	c := newClient(url, keyOne)
	ctx := testContext(t)
	a := mustCreate(t, c, "A", "")

	tests := []struct {
		name   string
		call   func() error
		want   error
		status int
	}{
		{"not found", func() error {
			_, err := c.GetAudience(ctx, "77")
			return err
		}, pangolin.ErrNotFound, 404},
		{"unknown key", func() error {
			_, err := c.WithAPIKey("wrong").ListAudiences(ctx, "")
			return err
		}, pangolin.ErrUnauthenticated, 401},
		{"missing name", func() error {
			_, _, err := c.CreateAudience(ctx, "", "x")
			return err
		}, pangolin.ErrInvalidArgument, 400},
		{"body too large", func() error {
			_, _, err := c.CreateAudience(ctx, strings.Repeat("n", 100<<10), "")
			return err
		}, pangolin.ErrTooLarge, 413},
		{"bad page token", func() error {
			_, _, err := c.ListMembers(ctx, a.ID, 0, "%%%")
			return err
		}, pangolin.ErrInvalidArgument, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			var ae *pangolin.APIError
			if !errors.As(err, &ae) || ae.Status != tt.status || ae.Code == "" ||
				ae.Message == "" {
				t.Errorf("errors.As(%v) = %+v, want status %d with code and message", err, ae,
					tt.status)
			}
		})
	}
}

func TestUpdateMembersChecksBeforeCalling(t *testing.T) {
	var seen attempts
	_, url := startServerWith(t, pangolin.ServerOptions{}, seen.wrap)
	c := newClient(url, keyOne)
	ctx := testContext(t)

	tests := []struct {
		name        string
		add, remove []string
	}{
		{"in both", []string{"u1", "u2"}, []string{"u3", "u2"}},
		{"empty ID", []string{"u1", ""}, nil},
		{"long ID", nil, []string{strings.Repeat("x", 257)}},
	}
	for _, tt := range tests {
		if _, err := c.UpdateMembers(ctx, "1000000001", tt.add, tt.remove); !errors.Is(err,
			pangolin.ErrInvalidArgument) {
			t.Errorf("%s: UpdateMembers() = %v, want ErrInvalidArgument", tt.name, err)
		}
	}
	if times, _ := seen.snapshot(); len(times) != 0 {
		t.Errorf("%d requests sent, want none", len(times))
	}
}

func TestUpdateMembersSplits(t *testing.T) {
	var seen attempts
	_, url := startServerWith(t, pangolin.ServerOptions{}, seen.wrap)
	c := newClient(url, keyOne)
	a := mustCreate(t, c, "A", "")

	got := mustUpdate(t, c, a.ID, ids("u", 0, 25000), nil)
	if want := (pangolin.UpdateResult{Added: 25000, Size: 25000}); got != want {
		t.Errorf("UpdateMembers(25000 adds) = %+v, want %+v", got, want)
	}
	got = mustUpdate(t, c, a.ID, ids("v", 0, 15000), ids("u", 0, 8000))
	if want := (pangolin.UpdateResult{Added: 15000, Removed: 8000, Size: 32000}); got != want {
		t.Errorf("UpdateMembers(15000 adds, 8000 removes) = %+v, want %+v", got, want)
	}
	got = mustUpdate(t, c, a.ID, nil, nil)
	if want := (pangolin.UpdateResult{Size: 32000}); got != want {
		t.Errorf("UpdateMembers(nothing) = %+v, want %+v", got, want)
	}
	// create, 3 calls, 3 calls (23,000 IDs), 1 call
	if times, _ := seen.snapshot(); len(times) != 1+3+3+1 {
		t.Errorf("%d requests, want 8", len(times))
	}
}

func TestRetryHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	var seen attempts
	srv, url := startServerWith(t, pangolin.ServerOptions{}, seen.wrap)
	c := newClient(url, keyOne)
	ctx := testContext(t)
	srv.SetFaults(pangolin.Faults{RateLimit: 1, Burst: 1})

	// The first call takes the only token; the second is answered 429 and
	// must wait the Retry-After (1s) before it tries again.
	if _, err := c.ListAudiences(ctx, ""); err != nil {
		t.Fatalf("first ListAudiences() = %v", err)
	}
	if _, err := c.ListAudiences(ctx, ""); err != nil {
		t.Fatalf("second ListAudiences() = %v, want success after waiting", err)
	}
	times, codes := seen.snapshot()
	if len(codes) < 3 || codes[1] != http.StatusTooManyRequests || codes[len(codes)-1] != 200 {
		t.Fatalf("statuses = %v, want 200, 429, ..., 200", codes)
	}
	if gap := times[2].Sub(times[1]); gap < time.Second {
		t.Errorf("retry came %v after the 429, want at least Retry-After (1s)", gap)
	}
}

func TestRetryUnavailable(t *testing.T) {
	t.Parallel()
	var seen attempts
	srv, url := startServerWith(t, pangolin.ServerOptions{Seed: 7}, seen.wrap)
	c := newClient(url, keyOne)
	ctx := testContext(t)
	a := mustCreate(t, c, "A", "ext")
	srv.SetFaults(pangolin.Faults{FailureRate: 0.5})

	const calls = 10
	for i := range calls {
		res, err := c.UpdateMembers(ctx, a.ID, ids("u", i*10, 10), nil)
		if err != nil || res.Added != 10 {
			t.Fatalf("UpdateMembers(%d) = %+v, %v; want 10 added despite 503s", i, res, err)
		}
		b, created, err := c.CreateAudience(ctx, "A", "ext")
		if err != nil || created || b.ID != a.ID {
			t.Fatalf("CreateAudience(again) = %+v, %v, %v", b, created, err)
		}
	}
	_, codes := seen.snapshot()
	failed := 0
	for _, code := range codes {
		if code == http.StatusServiceUnavailable {
			failed++
		}
	}
	if failed == 0 || len(codes) != 1+2*calls+failed {
		t.Errorf("%d requests with %d answered 503; want 503s, each retried once", len(codes),
			failed)
	}
}

func TestRetryLatency(t *testing.T) {
	t.Parallel()
	srv, url := startServer(t, pangolin.ServerOptions{})
	srv.SetFaults(pangolin.Faults{Latency: 100 * time.Millisecond})

	// Within its deadline a slow call succeeds.
	if _, err := newClient(url, keyOne).ListAudiences(testContext(t), ""); err != nil {
		t.Fatalf("ListAudiences(slow server) = %v", err)
	}

	// Attempts that time out are retried until the context ends.
	hc := &http.Client{Timeout: 30 * time.Millisecond}
	c := pangolin.NewClient(url, keyOne, &pangolin.ClientOptions{HTTPClient: hc})
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.ListAudiences(ctx, "")
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, pangolin.ErrUnavailable) {
		t.Errorf("ListAudiences(attempts time out) = %v, want deadline and ErrUnavailable", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("gave up after %v, want about 500ms", took)
	}
}

func TestRetryGivesUpAtDeadline(t *testing.T) {
	t.Parallel()
	srv, url := startServer(t, pangolin.ServerOptions{})
	c := newClient(url, keyOne)
	srv.SetFaults(pangolin.Faults{FailureRate: 1})

	ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.GetAudience(ctx, "1000000001")
	took := time.Since(start)

	var ae *pangolin.APIError
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, pangolin.ErrUnavailable) ||
		!errors.As(err, &ae) || ae.Status != 503 {
		t.Errorf("GetAudience(always 503) = %v; want deadline, ErrUnavailable and a 503", err)
	}
	if !strings.Contains(err.Error(), "attempt") || !strings.Contains(err.Error(), "503") {
		t.Errorf("error %q does not say how many attempts or the last answer", err)
	}
	if took > 2*time.Second {
		t.Errorf("gave up after %v, want about 600ms", took)
	}
}

func TestRetryMaxElapsed(t *testing.T) {
	t.Parallel()
	srv, url := startServer(t, pangolin.ServerOptions{})
	srv.SetFaults(pangolin.Faults{FailureRate: 1})
	c := pangolin.NewClient(url, keyOne, &pangolin.ClientOptions{MaxElapsed: 400 * time.Millisecond})

	start := time.Now()
	_, err := c.ListAudiences(context.Background(), "")
	if !errors.Is(err, pangolin.ErrUnavailable) {
		t.Errorf("ListAudiences(always 503) = %v, want ErrUnavailable", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("gave up after %v, want about MaxElapsed (400ms)", took)
	}
}

func TestNoRetryOnClientErrors(t *testing.T) {
	var seen attempts
	_, url := startServerWith(t, pangolin.ServerOptions{}, seen.wrap)
	c := newClient(url, keyOne)
	ctx := testContext(t)

	_, _ = c.GetAudience(ctx, "404")
	_, _ = c.WithAPIKey("nope").GetAudience(ctx, "1")
	_, _, _ = c.CreateAudience(ctx, "", "")
	if _, codes := seen.snapshot(); len(codes) != 3 {
		t.Errorf("statuses = %v, want one attempt each for 404, 401, 400", codes)
	}
}

func TestRetryUnreachable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there now

	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	_, err = newClient(url, keyOne).ListAudiences(ctx, "")
	if !errors.Is(err, pangolin.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("ListAudiences(nobody listening) = %v, want ErrUnavailable and deadline", err)
	}
}

func TestRetryCanceled(t *testing.T) {
	t.Parallel()
	srv, url := startServer(t, pangolin.ServerOptions{})
	srv.SetFaults(pangolin.Faults{FailureRate: 1})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)

	_, err := newClient(url, keyOne).ListAudiences(ctx, "")
	if !errors.Is(err, context.Canceled) || !errors.Is(err, pangolin.ErrUnavailable) {
		t.Errorf("ListAudiences(canceled while retrying) = %v, want Canceled and ErrUnavailable",
			err)
	}
}

func TestErrorsDoNotShowUserIDs(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = newClient(url, keyOne).IsMember(ctx, "1000000001", "secret-user-42")
	if err == nil || strings.Contains(err.Error(), "secret-user-42") {
		t.Errorf("IsMember() error = %v, want one without the user ID", err)
	}
}
