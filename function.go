// Package diy is a DMP's do-it-yourself integration with the Pangolin ad
// platform, as two Google Cloud functions:
//
//   - diy, an HTTP function the DMP calls: it checks each call's X-HMAC
//     signature (and Basic Auth when configured), answers validation and
//     CREATE_AUDIENCE calls, and publishes ADD/REMOVE_FROM_AUDIENCE
//     mutations to Pub/Sub, answering 200 only once Pub/Sub has them;
//   - forward, fed by an ordered Pub/Sub push subscription (or by an
//     Eventarc trigger's messagePublished CloudEvents): it applies each
//     queued message to Pangolin, lets Pub/Sub retry what a retry can fix
//     and sends the rest to the dead-letter topic with the reason.
//
// This file is the wiring: it registers both functions, reads the
// configuration once from the environment and creates the clients once
// per instance.
package diy

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/GoogleCloudPlatform/functions-framework-go/functions"
)

func init() {
	functions.HTTP("diy", serveDIY)
	functions.HTTP("forward", serveForward) // see App.ServeForward for why HTTP
}

// Config is everything the functions read from their environment. The
// zero value of a field means its documented default.
type Config struct {
	Project          string        // GOOGLE_CLOUD_PROJECT
	Topic            string        // DIY_TOPIC
	DeadLetterTopic  string        // DIY_DEAD_LETTER_TOPIC
	HMACSecrets      []string      // DIY_HMAC_SECRET, DIY_HMAC_SECRET_PREVIOUS
	BasicAuthUser    string        // DIY_BASIC_AUTH_USER
	BasicAuthPass    string        // DIY_BASIC_AUTH_PASSWORD
	ReturnPlatformID bool          // DIY_RETURN_PLATFORM_ID
	PangolinURL      string        // PANGOLIN_URL
	PangolinAPIKey   string        // PANGOLIN_API_KEY: one key for all customers
	KeySecret        string        // DIY_PANGOLIN_KEY_SECRET
	KeyCacheTTL      time.Duration // DIY_KEY_CACHE_TTL
	SecretEndpoint   string        // SECRET_MANAGER_ENDPOINT, for a local stand-in
	Store            string        // DIY_STORE: "firestore" or "bolt"
	DataDir          string        // DIY_DATA_DIR, for the bolt store
	FirestoreDB      string        // FIRESTORE_DATABASE
	UnmappedGrace    time.Duration // DIY_UNMAPPED_GRACE
	PublishTimeout   time.Duration // DIY_PUBLISH_TIMEOUT
	CreateTimeout    time.Duration // DIY_CREATE_TIMEOUT
	ForwardTimeout   time.Duration // DIY_FORWARD_TIMEOUT
}

// Defaults of the settings that have one.
const (
	DefaultTopic           = "diy-mutations"
	DefaultDeadLetterTopic = "diy-mutations-dead-letter"
	DefaultPangolinURL     = "http://127.0.0.1:8081"
	DefaultKeySecret       = "pangolin-api-key"
	DefaultKeyCacheTTL     = 5 * time.Minute
	DefaultUnmappedGrace   = 10 * time.Minute
	// DefaultPublishTimeout keeps an ADD/REMOVE answer inside the DMP's
	// 1 s target (99th percentile) even when Pub/Sub is slow.
	DefaultPublishTimeout = 800 * time.Millisecond
	// DefaultCreateTimeout keeps a CREATE_AUDIENCE answer inside the
	// DMP's 3 s target.
	DefaultCreateTimeout = 2500 * time.Millisecond
	// DefaultForwardTimeout bounds one delivery of one message; it is
	// below the push subscription's acknowledgement deadline.
	DefaultForwardTimeout = 60 * time.Second
)

// ConfigFromEnv reads the configuration from environment variables through
// getenv (os.Getenv in production). It reports settings that cannot be
// parsed; missing secrets are not an error here: diy then refuses every
// POST, and says why in its log.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		Project:          getenv("GOOGLE_CLOUD_PROJECT"),
		Topic:            orDefault(getenv("DIY_TOPIC"), DefaultTopic),
		DeadLetterTopic:  orDefault(getenv("DIY_DEAD_LETTER_TOPIC"), DefaultDeadLetterTopic),
		BasicAuthUser:    getenv("DIY_BASIC_AUTH_USER"),
		BasicAuthPass:    getenv("DIY_BASIC_AUTH_PASSWORD"),
		PangolinURL:      orDefault(getenv("PANGOLIN_URL"), DefaultPangolinURL),
		PangolinAPIKey:   getenv("PANGOLIN_API_KEY"),
		KeySecret:        orDefault(getenv("DIY_PANGOLIN_KEY_SECRET"), DefaultKeySecret),
		SecretEndpoint:   getenv("SECRET_MANAGER_ENDPOINT"),
		DataDir:          getenv("DIY_DATA_DIR"),
		FirestoreDB:      getenv("FIRESTORE_DATABASE"),
		Store:            strings.ToLower(getenv("DIY_STORE")),
		ReturnPlatformID: true,
	}
	for _, name := range []string{"DIY_HMAC_SECRET", "DIY_HMAC_SECRET_PREVIOUS"} {
		if s := getenv(name); s != "" {
			c.HMACSecrets = append(c.HMACSecrets, s)
		}
	}
	if c.Store == "" {
		c.Store = "firestore"
		if c.DataDir != "" {
			c.Store = "bolt"
		}
	}
	var errs []string
	if v := getenv("DIY_RETURN_PLATFORM_ID"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Sprintf("DIY_RETURN_PLATFORM_ID=%q is not true or false", v))
		}
		c.ReturnPlatformID = b
	}
	durations := []struct {
		name string
		dst  *time.Duration
		def  time.Duration
	}{
		{"DIY_KEY_CACHE_TTL", &c.KeyCacheTTL, DefaultKeyCacheTTL},
		{"DIY_UNMAPPED_GRACE", &c.UnmappedGrace, DefaultUnmappedGrace},
		{"DIY_PUBLISH_TIMEOUT", &c.PublishTimeout, DefaultPublishTimeout},
		{"DIY_CREATE_TIMEOUT", &c.CreateTimeout, DefaultCreateTimeout},
		{"DIY_FORWARD_TIMEOUT", &c.ForwardTimeout, DefaultForwardTimeout},
	}
	for _, d := range durations {
		*d.dst = d.def
		if v := getenv(d.name); v != "" {
			parsed, err := time.ParseDuration(v)
			if err != nil || parsed <= 0 {
				errs = append(errs, fmt.Sprintf("%s=%q is not a positive duration such as 30s", d.name, v))
				continue
			}
			*d.dst = parsed
		}
	}
	if c.Store != "firestore" && c.Store != "bolt" {
		errs = append(errs, fmt.Sprintf("DIY_STORE=%q is neither firestore nor bolt", c.Store))
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("configuration: %s", strings.Join(errs, "; "))
	}
	return c, nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// The instance's App is created on first use, once. A failed start is
// remembered, so every call fails clearly instead of finding a nil client.
var (
	instanceOnce sync.Once
	instance     *App
	instanceErr  error
)

func getInstance(ctx context.Context) (*App, error) {
	instanceOnce.Do(func() {
		cfg, err := ConfigFromEnv(os.Getenv)
		if err != nil {
			instanceErr = err
			return
		}
		instance, instanceErr = NewApp(context.WithoutCancel(ctx), cfg, nil)
	})
	return instance, instanceErr
}

// serveDIY is the diy function's entry point.
func serveDIY(w http.ResponseWriter, r *http.Request) {
	app, err := getInstance(r.Context())
	if err != nil {
		logStartFailure(err)
		writeError(w, http.StatusServiceUnavailable,
			"The integration could not start; its operator has the details in the function's log.")
		return
	}
	app.ServeHTTP(w, r)
}

// serveForward is the forward function's entry point. A failed start
// answers 503, so Pub/Sub delivers the message again.
func serveForward(w http.ResponseWriter, r *http.Request) {
	app, err := getInstance(r.Context())
	if err != nil {
		logStartFailure(err)
		writeError(w, http.StatusServiceUnavailable,
			"The integration could not start; its operator has the details in the function's log.")
		return
	}
	app.ServeForward(w, r)
}
