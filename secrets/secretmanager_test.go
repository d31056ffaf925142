package secrets_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/dmp-diy/diy/secrets"
	"github.com/dmp-diy/diy/secrets/secretstest"
)

const (
	project    = "diy-test"
	defaultKey = "pangolin-api-key"
	key123     = "pangolin-api-key-123"
	ttl        = time.Minute
)

// clock is a settable time source for SecretManagerOptions.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// setup starts a fake Secret Manager and returns keys reading it with a TTL
// of one minute on a fake clock.
func setup(t *testing.T) (*secrets.SecretManager, *secretstest.Fake, *clock) {
	t.Helper()
	fake := secretstest.Start(t)
	clk := &clock{now: time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)}
	keys := secrets.NewSecretManager(fake.Client(t), secrets.SecretManagerOptions{
		Project: project, TTL: ttl, Now: clk.Now,
	})
	return keys, fake, clk
}

// mustKey calls APIKey and fails the test unless it returns want.
func mustKey(t *testing.T, keys secrets.Keys, customer, want string) {
	t.Helper()
	got, err := keys.APIKey(context.Background(), customer)
	if err != nil {
		t.Fatalf("APIKey(%q) error = %v, want nil", customer, err)
	}
	if got != want {
		t.Fatalf("APIKey(%q) = %q, want %q", customer, got, want)
	}
}

// wantCalls fails the test unless the fake counted n reads of secret.
func wantCalls(t *testing.T, fake *secretstest.Fake, secret string, n int) {
	t.Helper()
	if got := fake.Calls(secret); got != n {
		t.Fatalf("reads of %s = %d, want %d", secret, got, n)
	}
}

// awaitCalls waits until the fake counted at least n reads of secret.
func awaitCalls(t *testing.T, fake *secretstest.Fake, secret string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for fake.Calls(secret) < n {
		if time.Now().After(deadline) {
			t.Fatalf("reads of %s = %d, want %d within 10s", secret, fake.Calls(secret), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestSecretManagerAPIKey(t *testing.T) {
	denied := status.Error(codes.PermissionDenied, "Permission denied")
	tests := []struct {
		name      string
		secrets   map[string]string
		failures  map[string]error
		want      string
		wantErr   error
		wantCode  codes.Code // checked when wantErr is nil and want is ""
		wantCalls map[string]int
	}{{
		name:      "customer secret",
		secrets:   map[string]string{key123: "k-123", defaultKey: "k-default"},
		want:      "k-123",
		wantCalls: map[string]int{key123: 1, defaultKey: 0},
	}, {
		name:      "fallback to default",
		secrets:   map[string]string{defaultKey: "k-default", "pangolin-api-key-456": "k-456"},
		want:      "k-default",
		wantCalls: map[string]int{key123: 1, defaultKey: 1},
	}, {
		name:      "neither exists",
		secrets:   map[string]string{"pangolin-api-key-456": "k-456"},
		wantErr:   secrets.ErrNoKey,
		wantCalls: map[string]int{key123: 1, defaultKey: 1},
	}, {
		name:    "whitespace trimmed",
		secrets: map[string]string{key123: " \tk-123\r\n"},
		want:    "k-123",
	}, {
		name:      "empty payload",
		secrets:   map[string]string{key123: "\n", defaultKey: "k-default"},
		wantErr:   secrets.ErrEmptySecret,
		wantCalls: map[string]int{key123: 1, defaultKey: 0},
	}, {
		name:      "customer secret denied: no fallback",
		secrets:   map[string]string{key123: "k-123", defaultKey: "k-default"},
		failures:  map[string]error{key123: denied},
		wantCode:  codes.PermissionDenied,
		wantCalls: map[string]int{key123: 1, defaultKey: 0},
	}, {
		name:      "default secret denied",
		secrets:   map[string]string{defaultKey: "k-default"},
		failures:  map[string]error{defaultKey: denied},
		wantCode:  codes.PermissionDenied,
		wantCalls: map[string]int{key123: 1, defaultKey: 1},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, fake, _ := setup(t)
			for name, value := range tt.secrets {
				fake.Set(project, name, value)
			}
			for name, err := range tt.failures {
				fake.FailWith(name, err)
			}

			got, err := keys.APIKey(context.Background(), "123")
			switch {
			case tt.want != "" && err != nil:
				t.Fatalf("APIKey(123) error = %v, want nil", err)
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Fatalf("APIKey(123) error = %v, want %v", err, tt.wantErr)
			case tt.wantCode != codes.OK && status.Code(err) != tt.wantCode:
				t.Fatalf("APIKey(123) error = %v, want code %v", err, tt.wantCode)
			}
			if got != tt.want {
				t.Errorf("APIKey(123) = %q, want %q", got, tt.want)
			}
			for _, value := range tt.secrets {
				if err != nil && strings.TrimSpace(value) != "" &&
					strings.Contains(err.Error(), value) {
					t.Errorf("APIKey(123) error %q reveals a secret value", err)
				}
			}
			for name, n := range tt.wantCalls {
				wantCalls(t, fake, name, n)
			}
		})
	}
}

func TestSecretManagerErrorNamesSecret(t *testing.T) {
	keys, fake, _ := setup(t)
	fake.FailWith(key123, status.Error(codes.PermissionDenied, "Permission denied"))

	_, err := keys.APIKey(context.Background(), "123")
	want := "projects/" + project + "/secrets/" + key123 + "/versions/latest"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("APIKey(123) error = %v, want one naming %s", err, want)
	}
}

func TestSecretManagerBase(t *testing.T) {
	fake := secretstest.Start(t)
	fake.Set(project, "pk-123", "k-123")
	fake.Set(project, "pk", "k-default")
	keys := secrets.NewSecretManager(fake.Client(t), secrets.SecretManagerOptions{
		Project: project, Base: "pk",
	})

	mustKey(t, keys, "123", "k-123")
	mustKey(t, keys, "456", "k-default")
}

func TestSecretManagerCachesWithinTTL(t *testing.T) {
	keys, fake, clk := setup(t)
	fake.Set(project, key123, "k-1")

	mustKey(t, keys, "123", "k-1")
	fake.Set(project, key123, "k-2") // rotated
	clk.Advance(ttl - time.Nanosecond)
	mustKey(t, keys, "123", "k-1")
	wantCalls(t, fake, key123, 1)

	clk.Advance(time.Nanosecond)
	mustKey(t, keys, "123", "k-2")
	wantCalls(t, fake, key123, 2)
}

func TestSecretManagerDefaultTTL(t *testing.T) {
	fake := secretstest.Start(t)
	fake.Set(project, key123, "k-1")
	clk := &clock{now: time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)}
	keys := secrets.NewSecretManager(fake.Client(t), secrets.SecretManagerOptions{
		Project: project, Now: clk.Now,
	})

	mustKey(t, keys, "123", "k-1")
	fake.Set(project, key123, "k-2")
	clk.Advance(secrets.DefaultTTL - time.Second)
	mustKey(t, keys, "123", "k-1")
	clk.Advance(time.Second)
	mustKey(t, keys, "123", "k-2")
}

func TestSecretManagerCachesFallback(t *testing.T) {
	keys, fake, clk := setup(t)
	fake.Set(project, defaultKey, "k-default")

	mustKey(t, keys, "123", "k-default")
	fake.Set(project, key123, "k-123") // the customer gets a key of its own
	mustKey(t, keys, "123", "k-default")
	wantCalls(t, fake, key123, 1)
	wantCalls(t, fake, defaultKey, 1)

	clk.Advance(ttl)
	mustKey(t, keys, "123", "k-123")
	wantCalls(t, fake, defaultKey, 1)
}

func TestSecretManagerCachesPerCustomer(t *testing.T) {
	keys, fake, _ := setup(t)
	fake.Set(project, key123, "k-123")
	fake.Set(project, "pangolin-api-key-456", "k-456")

	mustKey(t, keys, "123", "k-123")
	mustKey(t, keys, "456", "k-456")
	mustKey(t, keys, "123", "k-123")
	wantCalls(t, fake, key123, 1)
	wantCalls(t, fake, "pangolin-api-key-456", 1)
}

func TestSecretManagerInvalidate(t *testing.T) {
	keys, fake, _ := setup(t)
	fake.Set(project, key123, "k-1")
	fake.Set(project, "pangolin-api-key-456", "k-456")
	mustKey(t, keys, "123", "k-1")
	mustKey(t, keys, "456", "k-456")

	fake.Set(project, key123, "k-2")
	keys.Invalidate("123")
	mustKey(t, keys, "123", "k-2")
	mustKey(t, keys, "456", "k-456")
	wantCalls(t, fake, key123, 2)
	wantCalls(t, fake, "pangolin-api-key-456", 1)

	keys.Invalidate("not/valid") // ignored
}

func TestSecretManagerInvalidateDuringRead(t *testing.T) {
	keys, fake, _ := setup(t)
	fake.Set(project, key123, "k-1")
	release := fake.Hold(key123)

	done := make(chan error, 1)
	go func() {
		_, err := keys.APIKey(context.Background(), "123")
		done <- err
	}()
	awaitCalls(t, fake, key123, 1)
	keys.Invalidate("123") // the read under way may have fetched a revoked key
	release()
	if err := <-done; err != nil {
		t.Fatalf("APIKey(123) error = %v, want nil", err)
	}

	mustKey(t, keys, "123", "k-1")
	wantCalls(t, fake, key123, 2)
	mustKey(t, keys, "123", "k-1")
	wantCalls(t, fake, key123, 2)
}

func TestSecretManagerInvalidateStartsFreshRead(t *testing.T) {
	keys, fake, _ := setup(t)
	fake.Set(project, key123, "k-1")
	release := fake.Hold(key123)

	done := make(chan error, 2)
	call := func() {
		_, err := keys.APIKey(context.Background(), "123")
		done <- err
	}
	go call()
	awaitCalls(t, fake, key123, 1)
	keys.Invalidate("123")
	go call() // must not join the read started before Invalidate
	awaitCalls(t, fake, key123, 2)
	release()
	for range 2 {
		if err := <-done; err != nil {
			t.Fatalf("APIKey(123) error = %v, want nil", err)
		}
	}

	mustKey(t, keys, "123", "k-1")
	wantCalls(t, fake, key123, 2)
}

func TestSecretManagerConcurrentCallersShareOneRead(t *testing.T) {
	keys, fake, _ := setup(t)
	fake.Set(project, key123, "k-123")
	release := fake.Hold(key123)

	const callers = 20
	var started, finished sync.WaitGroup
	errs := make(chan error, callers)
	for range callers {
		started.Add(1)
		finished.Add(1)
		go func() {
			defer finished.Done()
			started.Done()
			got, err := keys.APIKey(context.Background(), "123")
			if err == nil && got != "k-123" {
				err = errors.New("got " + got)
			}
			errs <- err
		}()
	}
	started.Wait()
	awaitCalls(t, fake, key123, 1)
	release()
	finished.Wait()
	close(errs)

	for err := range errs {
		if err != nil {
			t.Errorf("APIKey(123) error = %v, want nil", err)
		}
	}
	wantCalls(t, fake, key123, 1)
}

func TestSecretManagerCallerGivingUpLeavesReadRunning(t *testing.T) {
	keys, fake, _ := setup(t)
	fake.Set(project, key123, "k-123")
	release := fake.Hold(key123)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := keys.APIKey(ctx, "123")
		done <- err
	}()
	awaitCalls(t, fake, key123, 1)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("APIKey(cancelled ctx, 123) error = %v, want context.Canceled", err)
	}

	release()
	mustKey(t, keys, "123", "k-123")
	wantCalls(t, fake, key123, 1)
}

func TestSecretManagerErrorsNotCached(t *testing.T) {
	tests := []struct {
		name string
		err  error
	}{
		{name: "permission denied", err: status.Error(codes.PermissionDenied, "denied")},
		{name: "internal", err: status.Error(codes.Internal, "boom")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, fake, _ := setup(t)
			fake.Set(project, key123, "k-123")
			fake.FailWith(key123, tt.err)

			_, err := keys.APIKey(context.Background(), "123")
			if status.Code(err) != status.Code(tt.err) {
				t.Fatalf("APIKey(123) error = %v, want code %v", err, status.Code(tt.err))
			}
			fake.FailWith(key123, nil)
			mustKey(t, keys, "123", "k-123")
			wantCalls(t, fake, key123, 2)
		})
	}
}

// Unavailable is retried by the client library (backing off from up to two
// seconds); a caller's deadline still ends its wait, and nothing is cached.
func TestSecretManagerUnavailable(t *testing.T) {
	keys, fake, _ := setup(t)
	fake.Set(project, key123, "k-123")
	fake.FailWith(key123, status.Error(codes.Unavailable, "try again"))

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := keys.APIKey(ctx, "123"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("APIKey(123) error = %v, want context.DeadlineExceeded", err)
	}

	fake.FailWith(key123, nil)
	mustKey(t, keys, "123", "k-123")
}

func TestSecretManagerRejectsInvalidCustomers(t *testing.T) {
	keys, fake, _ := setup(t)
	fake.Set(project, defaultKey, "k-default")
	for _, customer := range []string{
		"", "1/2", "../pangolin-api-key", "123/versions/1", "1 2", "12\n", "1%2F2", "ä",
		strings.Repeat("1", 255-len(defaultKey)),
	} {
		if _, err := keys.APIKey(context.Background(), customer); !errors.Is(err,
			secrets.ErrInvalidCustomer) {
			t.Errorf("APIKey(%q) error = %v, want ErrInvalidCustomer", customer, err)
		}
	}
	wantCalls(t, fake, defaultKey, 0)

	mustKey(t, keys, "Ab_9-"+strings.Repeat("1", 254-len(defaultKey)-5), "k-default")
}

func TestSecretManagerConfigErrors(t *testing.T) {
	fake := secretstest.Start(t)
	client := fake.Client(t)
	tests := []struct {
		name string
		opts secrets.SecretManagerOptions
	}{
		{name: "no project", opts: secrets.SecretManagerOptions{}},
		{name: "project with slash", opts: secrets.SecretManagerOptions{Project: "a/b"}},
		{name: "bad base", opts: secrets.SecretManagerOptions{Project: project, Base: "a.b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys := secrets.NewSecretManager(client, tt.opts)
			if _, err := keys.APIKey(context.Background(), "123"); err == nil {
				t.Fatalf("APIKey(123) with %+v error = nil, want one", tt.opts)
			}
		})
	}
	keys := secrets.NewSecretManager(nil, secrets.SecretManagerOptions{Project: project})
	if _, err := keys.APIKey(context.Background(), "123"); err == nil {
		t.Fatal("APIKey(123) with a nil client error = nil, want one")
	}
}
