package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/pstest"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	diy "github.com/dmp-diy/diy"
	"github.com/dmp-diy/diy/localcloud"
	"github.com/dmp-diy/diy/pangolin"
	"github.com/dmp-diy/diy/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

const (
	stackProject = "dmpsim-test"
	stackSecret  = "test-hmac-secret"
	stackKey     = "test-pangolin-key"
)

// syncBuffer collects log lines written from several goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// stack is the project's real pipeline in this process: the diy endpoint,
// the Pub/Sub fake, the push delivery to the forward function, and a
// Pangolin server, all on loopback.
type stack struct {
	diyURL      string
	pangolinURL string
	ps          *pstest.Server
	topic       string
}

// awaitDrained waits until every message on the topic has been
// acknowledged. Verify can match while a message whose effect cancels out
// (an ADD, then a REMOVE of the same user) is still queued; a run that
// reads Pangolin as its starting point must wait for those.
func (s *stack) awaitDrained(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		pending := 0
		for _, m := range s.ps.Messages() {
			if m.Topic == s.topic && m.Acks == 0 {
				pending++
			}
		}
		if pending == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d messages still queued after 60s", pending)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func newStack(t *testing.T) *stack {
	t.Helper()
	ctx := context.Background()
	ps := pstest.NewServer()
	t.Cleanup(func() { ps.Close() })
	t.Setenv("PUBSUB_EMULATOR_HOST", ps.Addr)

	pan, err := pangolin.NewServer(pangolin.ServerOptions{APIKeys: []string{stackKey}, Seed: 1})
	if err != nil {
		t.Fatalf("pangolin.NewServer() = %v", err)
	}
	panSrv := httptest.NewServer(pan)
	t.Cleanup(panSrv.Close)

	client := newPubSubClient(t, ps.Addr)
	topo := localcloud.DefaultTopology(stackProject)
	topo.MinRetryDelay, topo.MaxRetryDelay = 10*time.Millisecond, 200*time.Millisecond
	if err := topo.Create(ctx, client); err != nil {
		t.Fatalf("Topology.Create() = %v", err)
	}

	logs := &syncBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pipeline log:\n%s", logs)
		}
	})
	app, err := diy.NewApp(ctx, diy.Config{
		Project: stackProject, Topic: topo.Topic, DeadLetterTopic: topo.DeadLetterTopic,
		HMACSecrets: []string{stackSecret}, ReturnPlatformID: true,
		PangolinURL: panSrv.URL, PangolinAPIKey: stackKey,
		Store: "bolt", DataDir: t.TempDir(),
		KeySecret: diy.DefaultKeySecret, KeyCacheTTL: diy.DefaultKeyCacheTTL,
		UnmappedGrace: diy.DefaultUnmappedGrace, PublishTimeout: diy.DefaultPublishTimeout,
		CreateTimeout: diy.DefaultCreateTimeout, ForwardTimeout: 10 * time.Second,
	}, &diy.Options{Logger: diy.NewLogger(logs)})
	if err != nil {
		t.Fatalf("diy.NewApp() = %v", err)
	}
	t.Cleanup(func() { app.Close() })
	diySrv := httptest.NewServer(app)
	t.Cleanup(diySrv.Close)

	startPusher(t, client, topo, app)
	return &stack{diyURL: diySrv.URL + "/", pangolinURL: panSrv.URL, ps: ps,
		topic: topo.TopicName()}
}

func newPubSubClient(t *testing.T, addr string) *pubsub.Client {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("grpc.NewClient() = %v", err)
	}
	client, err := pubsub.NewClient(context.Background(), stackProject, option.WithGRPCConn(conn))
	if err != nil {
		t.Fatalf("pubsub.NewClient() = %v", err)
	}
	t.Cleanup(func() { client.Close() })
	return client
}

// startPusher serves the forward function's endpoint and delivers the
// subscription's messages to it until the test ends.
func startPusher(t *testing.T, client *pubsub.Client, topo localcloud.Topology, app *diy.App) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	fwd := httptest.NewServer(http.HandlerFunc(app.ServeForward))
	t.Cleanup(fwd.Close)
	p := &localcloud.Pusher{Client: client, Topology: topo, URL: fwd.URL}
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && ctx.Err() == nil {
			t.Errorf("Pusher.Run() = %v", err)
		}
	})
}

// stackConfig is a small, fast workload against s.
func (s *stack) config() Config {
	c := DefaultConfig()
	c.URL, c.Secret = s.diyURL, stackSecret
	c.PangolinURL, c.PangolinKey = s.pangolinURL, stackKey
	c.Customers, c.Audiences, c.Users, c.Mutations = 2, 4, 500, 2000
	c.Settle, c.PollInterval = 30*time.Second, 50*time.Millisecond
	c.NoProgress = true
	return c
}
