package diy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"cloud.google.com/go/firestore"
	"cloud.google.com/go/pubsub/v2"

	"github.com/dmp-diy/diy/hmac"
	"github.com/dmp-diy/diy/pangolin"
	"github.com/dmp-diy/diy/secrets"
	"github.com/dmp-diy/diy/store"
)

// Options are the parts of an App that tests and local runs choose; nil
// or zero fields take their defaults.
type Options struct {
	Logger *slog.Logger     // default: JSON lines on stderr
	Now    func() time.Time // default: time.Now
}

// App holds one instance's configuration and clients. Both functions are
// methods of it. It is safe for concurrent use.
type App struct {
	cfg      Config
	log      *slog.Logger
	now      func() time.Time
	verifier *hmac.Verifier // nil: no secret configured, every POST is refused

	pubsub    *pubsub.Client
	publisher *pubsub.Publisher
	dead      *pubsub.Publisher
	store     store.Store
	keys      secrets.Keys
	pangolin  *pangolin.Client
	closers   []func() error
}

// publishSettings are chosen for the DMP's 1 s answer target: a message is
// sent after at most 1 ms instead of the library's 10 ms, which still lets
// concurrent requests share a batch. The client's own retry budget (10 s)
// stays above the time a request waits, so a publish that outlives its
// request can still land (the DMP then resends: a duplicate is harmless);
// while it is retried, later messages of its ordering key wait behind it.
var publishSettings = func() pubsub.PublishSettings {
	s := pubsub.DefaultPublishSettings
	s.DelayThreshold = time.Millisecond
	s.Timeout = 10 * time.Second
	return s
}()

// NewApp creates the clients cfg names. Nothing is sent on the network
// here; clients connect on first use. Call Close when done.
func NewApp(ctx context.Context, cfg Config, opts *Options) (*App, error) {
	if opts == nil {
		opts = &Options{}
	}
	a := &App{cfg: cfg, log: opts.Logger, now: opts.Now}
	if a.log == nil {
		a.log = NewLogger(os.Stderr)
	}
	if a.now == nil {
		a.now = time.Now
	}
	if err := a.init(ctx); err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

func (a *App) init(ctx context.Context) error {
	cfg := a.cfg
	if cfg.Project == "" {
		return errors.New("GOOGLE_CLOUD_PROJECT is not set")
	}
	secretsBytes := make([][]byte, len(cfg.HMACSecrets))
	for i, s := range cfg.HMACSecrets {
		secretsBytes[i] = []byte(s)
	}
	// Without a secret the verifier is nil and diy refuses every POST; each
	// refusal's log line says why. forward needs no secret.
	a.verifier, _ = hmac.NewVerifier(secretsBytes...)

	ps, err := pubsub.NewClient(ctx, cfg.Project)
	if err != nil {
		return fmt.Errorf("pubsub.NewClient: %w", err)
	}
	a.pubsub = ps
	a.publisher = ps.Publisher(cfg.Topic)
	a.publisher.EnableMessageOrdering = true
	a.publisher.PublishSettings = publishSettings
	a.dead = ps.Publisher(cfg.DeadLetterTopic)
	a.dead.PublishSettings = publishSettings
	a.closers = append(a.closers, func() error {
		a.publisher.Stop()
		a.dead.Stop()
		return ps.Close()
	})

	if a.store, err = openStore(ctx, cfg, &a.closers); err != nil {
		return err
	}
	if a.keys, err = openKeys(ctx, cfg, &a.closers); err != nil {
		return err
	}
	a.pangolin = pangolin.NewClient(cfg.PangolinURL, "", nil)
	return nil
}

func openStore(ctx context.Context, cfg Config, closers *[]func() error) (store.Store, error) {
	if cfg.Store == "bolt" {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("data directory: %w", err)
		}
		s, err := store.OpenBolt(filepath.Join(cfg.DataDir, "mappings.db"))
		if err != nil {
			return nil, err
		}
		*closers = append(*closers, s.Close)
		return s, nil
	}
	db := cfg.FirestoreDB
	if db == "" {
		db = firestore.DefaultDatabaseID
	}
	client, err := firestore.NewClientWithDatabase(ctx, cfg.Project, db)
	if err != nil {
		return nil, fmt.Errorf("firestore.NewClient: %w", err)
	}
	s := store.NewFirestore(client, nil)
	*closers = append(*closers, client.Close, s.Close)
	return s, nil
}

func openKeys(ctx context.Context, cfg Config, closers *[]func() error) (secrets.Keys, error) {
	if cfg.PangolinAPIKey != "" {
		return secrets.Static(cfg.PangolinAPIKey), nil
	}
	client, err := secrets.NewSecretManagerClient(ctx, cfg.SecretEndpoint)
	if err != nil {
		return nil, err
	}
	*closers = append(*closers, client.Close)
	return secrets.NewSecretManager(client, secrets.SecretManagerOptions{
		Project: cfg.Project, Base: cfg.KeySecret, TTL: cfg.KeyCacheTTL,
	}), nil
}

// Close stops the publishers (sending what they hold) and closes every
// client, in reverse order of creation.
func (a *App) Close() error {
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		errs = append(errs, a.closers[i]())
	}
	a.closers = nil
	return errors.Join(errs...)
}
