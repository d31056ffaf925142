package localcloud_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/pstest"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/dmp-diy/diy/localcloud"
)

func TestMain(m *testing.M) {
	os.Setenv("GCE_METADATA_HOST", "127.0.0.1:9")
	os.Setenv("METADATA_SERVER_DETECTION", "none")
	os.Exit(m.Run())
}

func TestRetryDelay(t *testing.T) {
	topo := localcloud.DefaultTopology("p")
	for _, tc := range []struct {
		attempt int
		want    time.Duration
	}{{1, 10 * time.Second}, {2, 20 * time.Second}, {4, 80 * time.Second},
		{6, 320 * time.Second}, {7, 600 * time.Second}, {20, 600 * time.Second}} {
		if got := topo.RetryDelay(tc.attempt); got != tc.want {
			t.Errorf("RetryDelay(%d) = %s, want %s", tc.attempt, got, tc.want)
		}
	}
}

func newClient(t *testing.T) *pubsub.Client {
	t.Helper()
	srv := pstest.NewServer()
	t.Cleanup(func() { srv.Close() })
	conn, err := grpc.NewClient(srv.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	c, err := pubsub.NewClient(context.Background(), "p", option.WithGRPCConn(conn))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestPusher checks that a message the function keeps refusing is
// delivered MaxDeliveryAttempts times, in its own time, then kept on the
// dead-letter topic, and that the next message of its ordering key is
// delivered after it.
func TestPusher(t *testing.T) {
	c := newClient(t)
	topo := localcloud.DefaultTopology("p")
	topo.MaxDeliveryAttempts = 3
	topo.MinRetryDelay, topo.MaxRetryDelay = time.Millisecond, 5*time.Millisecond
	ctx := context.Background()
	for i := 0; i < 2; i++ { // a second Create finds everything in place
		if err := topo.Create(ctx, c); err != nil {
			t.Fatalf("Create() run %d = %v", i+1, err)
		}
	}

	var refused, accepted atomic.Int32
	fn := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Ce-Type") != localcloud.MessagePublishedType {
			t.Errorf("delivery has CloudEvent type %q", r.Header.Get("Ce-Type"))
		}
		var data struct{ DeliveryAttempt int32 }
		if err := json.NewDecoder(r.Body).Decode(&data); err != nil {
			t.Errorf("delivery data: %v", err)
		}
		if r.Header.Get("Ce-Id") == "m0" {
			if want := refused.Load() + 1; data.DeliveryAttempt != want {
				t.Errorf("deliveryAttempt = %d, want %d", data.DeliveryAttempt, want)
			}
			refused.Add(1)
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		if refused.Load() < 3 {
			t.Errorf("the second message overtook the first one")
		}
		accepted.Add(1)
	}))
	t.Cleanup(fn.Close)

	pub := c.Publisher(topo.Topic)
	pub.EnableMessageOrdering = true
	defer pub.Stop()
	for _, data := range []string{"poison", "fine"} {
		if _, err := pub.Publish(ctx, &pubsub.Message{Data: []byte(data), OrderingKey: "k"}).Get(ctx); err != nil {
			t.Fatalf("Publish() = %v", err)
		}
	}
	runCtx, stop := context.WithCancel(ctx)
	p := &localcloud.Pusher{Client: c, Topology: topo, URL: fn.URL}
	done := make(chan error, 1)
	go func() { done <- p.Run(runCtx) }()

	dlCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var dead *pubsub.Message
	err := c.Subscriber(topo.DeadLetterSubscription).Receive(dlCtx, func(_ context.Context, m *pubsub.Message) {
		m.Ack()
		dead = m
		cancel()
	})
	if err != nil || dead == nil {
		t.Fatalf("no dead letter arrived: %v", err)
	}
	if string(dead.Data) != "poison" || dead.Attributes["CloudPubSubDeadLetterSourceDeliveryCount"] != "3" {
		t.Errorf("dead letter = %q %v, want the poison message after 3 attempts", dead.Data, dead.Attributes)
	}
	// Wait for the Pusher to have the function's answer, not only for the
	// function to have answered: stopping in between cancels the delivery.
	deadline := time.Now().Add(10 * time.Second)
	for p.Delivered() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	<-done
	if refused.Load() != 3 || accepted.Load() != 1 || p.Delivered() != 1 {
		t.Errorf("refused %d, accepted %d, Delivered() %d; want 3, 1, 1",
			refused.Load(), accepted.Load(), p.Delivered())
	}
}

// TestFakeTakesLargeMessages publishes a message near Pub/Sub's 10 MB
// limit through the fake, which gRPC's default 4 MiB would refuse.
func TestFakeTakesLargeMessages(t *testing.T) {
	fake, err := localcloud.StartFake()
	if err != nil {
		t.Fatalf("StartFake() = %v", err)
	}
	t.Cleanup(func() { fake.Close() })
	conn, err := grpc.NewClient(fake.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c, err := pubsub.NewClient(ctx, "p", option.WithGRPCConn(conn))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	topo := localcloud.DefaultTopology("p")
	if err := topo.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	pub := c.Publisher(topo.Topic)
	defer pub.Stop()
	data := make([]byte, 9_000_000)
	if _, err := pub.Publish(ctx, &pubsub.Message{Data: data}).Get(ctx); err != nil {
		t.Fatalf("Publish(9 MB) = %v", err)
	}
	if msgs := fake.Messages(); len(msgs) != 1 || len(msgs[0].Data) != len(data) {
		t.Errorf("the fake holds %d messages, want the 9 MB one", len(msgs))
	}
}
