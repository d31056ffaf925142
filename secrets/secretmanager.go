package secrets

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"
	"sync"
	"time"

	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"golang.org/x/sync/singleflight"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Defaults of SecretManagerOptions.
const (
	DefaultBase = "pangolin-api-key"
	DefaultTTL  = 5 * time.Minute
)

// readTimeout bounds one shared read (customer secret, then maybe the
// default), retries by the client library included.
const readTimeout = 30 * time.Second

var crc32c = crc32.MakeTable(crc32.Castagnoli)

// errNotFound marks a secret (or its latest version) that does not exist.
var errNotFound = errors.New("secrets: secret not found")

// SecretManagerOptions configure NewSecretManager.
type SecretManagerOptions struct {
	// Project is the Google Cloud project holding the secrets. Required.
	Project string
	// Base names the default secret; a customer's secret is Base-<customer>.
	// Default DefaultBase ("pangolin-api-key").
	Base string
	// TTL is how long a key read from Secret Manager is reused before it is
	// read again, so a rotated key is picked up without a redeploy. Zero or
	// less selects DefaultTTL (5 minutes).
	TTL time.Duration
	// Now tells the time for cache expiry. Default time.Now.
	Now func() time.Time
}

// SecretManager reads Pangolin API keys from Google Secret Manager. For a
// customer it reads the latest version of the secret Base-<customer>; when
// that secret does not exist it reads Base instead. The key is trimmed of
// surrounding whitespace and kept in memory for TTL, the decision to fall
// back included. Concurrent callers asking for the same customer share one
// read. Errors other than a missing customer secret are returned, wrapped
// with the secret's name, and are not cached.
//
// A SecretManager is safe for concurrent use. It does not own the client:
// close the client when done.
type SecretManager struct {
	client  *secretmanager.Client
	project string
	base    string
	ttl     time.Duration
	now     func() time.Time
	err     error // configuration error, returned by every APIKey call

	flights singleflight.Group

	mu    sync.Mutex
	cache map[string]cached // by customer
}

// cached is a customer's key. gen counts invalidations: a read that started
// before an Invalidate must not store what it read.
type cached struct {
	key     string
	expires time.Time
	gen     uint64
}

// NewSecretManager returns Keys backed by client. A configuration error
// (no project, a base that is not a valid secret ID, a nil client) is
// returned by every APIKey call.
func NewSecretManager(client *secretmanager.Client, opts SecretManagerOptions) *SecretManager {
	m := &SecretManager{
		client:  client,
		project: opts.Project,
		base:    orDefault(opts.Base, DefaultBase),
		ttl:     opts.TTL,
		now:     opts.Now,
		cache:   make(map[string]cached),
	}
	if m.ttl <= 0 {
		m.ttl = DefaultTTL
	}
	if m.now == nil {
		m.now = time.Now
	}
	m.err = m.check()
	return m
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// check validates the configuration once, at construction.
func (m *SecretManager) check() error {
	switch {
	case m.client == nil:
		return errors.New("secrets: NewSecretManager: nil client")
	case m.project == "" || strings.Contains(m.project, "/"):
		return fmt.Errorf("secrets: NewSecretManager: invalid project %q", m.project)
	case !validName(m.base) || len(m.base) >= maxSecretID:
		return fmt.Errorf("secrets: NewSecretManager: invalid base %q", m.base)
	}
	return nil
}

// APIKey returns the Pangolin API key for customer, from the cache when a
// read within TTL found one. It fails with ErrInvalidCustomer for an ID that
// cannot name a secret, ErrNoKey when neither the customer's secret nor the
// default exists, ErrEmptySecret for an empty payload, and otherwise with
// the client's error (status.Code works on it) wrapped with the secret name.
// If ctx ends while a read is under way, APIKey returns ctx.Err() wrapped;
// the read goes on for the callers still waiting on it.
func (m *SecretManager) APIKey(ctx context.Context, customer string) (string, error) {
	if m.err != nil {
		return "", m.err
	}
	if err := m.validCustomer(customer); err != nil {
		return "", err
	}
	if key, ok := m.lookup(customer); ok {
		return key, nil
	}

	// The shared read must not fail for everyone because the caller that
	// started it gave up, so it runs detached from that caller's deadline.
	read := m.flights.DoChan(customer, func() (any, error) {
		// A caller that missed the cache just before another read stored
		// the key starts a flight of its own: it finds the key here.
		if key, ok := m.lookup(customer); ok {
			return key, nil
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), readTimeout)
		defer cancel()
		return m.load(rctx, customer)
	})
	select {
	case r := <-read:
		if r.Err != nil {
			return "", r.Err
		}
		return r.Val.(string), nil
	case <-ctx.Done():
		return "", fmt.Errorf("secrets: reading key of customer %s: %w", customer, ctx.Err())
	}
}

// Invalidate drops the cached key of customer, so the next APIKey call reads
// Secret Manager again. A read already under way is not stored and is not
// shared with later callers.
func (m *SecretManager) Invalidate(customer string) {
	if m.validCustomer(customer) != nil {
		return
	}
	m.mu.Lock()
	m.cache[customer] = cached{gen: m.cache[customer].gen + 1}
	m.mu.Unlock()
	m.flights.Forget(customer)
}

// validCustomer also checks that Base-<customer> fits in a secret ID.
func (m *SecretManager) validCustomer(customer string) error {
	if err := validCustomer(customer); err != nil {
		return err
	}
	if len(m.customerSecret(customer)) > maxSecretID {
		return fmt.Errorf("%w: length %d", ErrInvalidCustomer, len(customer))
	}
	return nil
}

func (m *SecretManager) customerSecret(customer string) string {
	return m.base + "-" + customer
}

// lookup returns the cached key of customer if it has not expired.
func (m *SecretManager) lookup(customer string) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.cache[customer]
	if c.key == "" || !m.now().Before(c.expires) {
		return "", false
	}
	return c.key, true
}

// load reads the key of customer and caches it unless Invalidate was called
// for that customer in the meantime.
func (m *SecretManager) load(ctx context.Context, customer string) (string, error) {
	m.mu.Lock()
	gen := m.cache[customer].gen
	m.mu.Unlock()

	key, err := m.resolve(ctx, customer)
	if err != nil {
		return "", err
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cache[customer].gen == gen {
		m.cache[customer] = cached{key: key, expires: m.now().Add(m.ttl), gen: gen}
	}
	return key, nil
}

// resolve reads the customer's secret, falling back to the default secret
// when the customer has none.
func (m *SecretManager) resolve(ctx context.Context, customer string) (string, error) {
	key, err := m.access(ctx, m.customerSecret(customer))
	if !errors.Is(err, errNotFound) {
		return key, err
	}
	key, err = m.access(ctx, m.base)
	if errors.Is(err, errNotFound) {
		return "", fmt.Errorf("%w: neither secret %s nor %s exists in project %s",
			ErrNoKey, m.customerSecret(customer), m.base, m.project)
	}
	return key, err
}

// access reads the latest version of secret. It returns errNotFound when the
// secret or its latest version does not exist. Errors name the secret,
// never its value.
func (m *SecretManager) access(ctx context.Context, secret string) (string, error) {
	name := "projects/" + m.project + "/secrets/" + secret + "/versions/latest"
	req := &secretmanagerpb.AccessSecretVersionRequest{Name: name}
	resp, err := m.client.AccessSecretVersion(ctx, req)
	if status.Code(err) == codes.NotFound {
		return "", errNotFound
	}
	if err != nil {
		return "", fmt.Errorf("secrets: reading %s: %w", name, err)
	}

	payload := resp.GetPayload()
	if sum := payload.DataCrc32C; sum != nil &&
		int64(crc32.Checksum(payload.GetData(), crc32c)) != *sum {
		return "", fmt.Errorf("secrets: reading %s: payload checksum mismatch", name)
	}
	key := strings.TrimSpace(string(payload.GetData()))
	if key == "" {
		return "", fmt.Errorf("secrets: reading %s: %w", name, ErrEmptySecret)
	}
	return key, nil
}
