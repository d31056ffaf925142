// Package localcloud stands in, on one machine, for the parts of Google
// Cloud that link the two functions: it lays out the Pub/Sub topics and
// subscriptions exactly as deploy.sh does, and delivers the subscription's
// messages to the forward function over HTTP the way a push subscription
// with ordering, a retry policy and a dead-letter policy does. The local
// pipeline (cmd/local) and the end-to-end tests use it with the official
// Pub/Sub fake (pstest) or an emulator.
package localcloud

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Topology names the Pub/Sub resources and the delivery settings. The
// defaults are those deploy.sh uses on Google Cloud.
type Topology struct {
	Project                string
	Topic                  string        // where diy publishes
	DeadLetterTopic        string        // where undeliverable messages go
	Subscription           string        // ordered, delivers to forward
	DeadLetterSubscription string        // keeps the dead letters
	MaxDeliveryAttempts    int           // before Pub/Sub dead-letters a message
	MinRetryDelay          time.Duration // first redelivery delay after a failure
	MaxRetryDelay          time.Duration // cap of the exponential redelivery delay
	AckDeadline            time.Duration
}

// DefaultTopology returns the production names and settings for project.
func DefaultTopology(project string) Topology {
	return Topology{
		Project:                project,
		Topic:                  "diy-mutations",
		DeadLetterTopic:        "diy-mutations-dead-letter",
		Subscription:           "diy-mutations-forward",
		DeadLetterSubscription: "diy-mutations-dead-letter-keep",
		MaxDeliveryAttempts:    20,
		MinRetryDelay:          10 * time.Second,
		MaxRetryDelay:          600 * time.Second,
		AckDeadline:            120 * time.Second,
	}
}

func (t Topology) topicName(id string) string {
	return fmt.Sprintf("projects/%s/topics/%s", t.Project, id)
}

func (t Topology) subName(id string) string {
	return fmt.Sprintf("projects/%s/subscriptions/%s", t.Project, id)
}

// TopicName is the full name of the topic diy publishes to.
func (t Topology) TopicName() string { return t.topicName(t.Topic) }

// Create makes the topics and subscriptions; those that exist are left as
// they are.
func (t Topology) Create(ctx context.Context, c *pubsub.Client) error {
	for _, id := range []string{t.Topic, t.DeadLetterTopic} {
		_, err := c.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: t.topicName(id)})
		if err := ignoreExists(err); err != nil {
			return fmt.Errorf("creating topic %s: %w", id, err)
		}
	}
	subs := []*pubsubpb.Subscription{{
		Name:               t.subName(t.DeadLetterSubscription),
		Topic:              t.topicName(t.DeadLetterTopic),
		AckDeadlineSeconds: 60,
	}, {
		Name:                  t.subName(t.Subscription),
		Topic:                 t.topicName(t.Topic),
		AckDeadlineSeconds:    int32(t.AckDeadline / time.Second),
		EnableMessageOrdering: true,
		RetryPolicy: &pubsubpb.RetryPolicy{
			MinimumBackoff: durationpb.New(t.MinRetryDelay),
			MaximumBackoff: durationpb.New(t.MaxRetryDelay),
		},
		DeadLetterPolicy: &pubsubpb.DeadLetterPolicy{
			DeadLetterTopic:     t.topicName(t.DeadLetterTopic),
			MaxDeliveryAttempts: int32(t.MaxDeliveryAttempts),
		},
	}}
	for _, s := range subs {
		_, err := c.SubscriptionAdminClient.CreateSubscription(ctx, s)
		if err := ignoreExists(err); err != nil {
			return fmt.Errorf("creating subscription %s: %w", s.Name, err)
		}
	}
	return nil
}

func ignoreExists(err error) error {
	if status.Code(err) == codes.AlreadyExists {
		return nil
	}
	return err
}

// RetryDelay is the wait before a failed delivery is attempted again:
// exponential from MinRetryDelay, doubling per attempt, capped at
// MaxRetryDelay, as a subscription's retry policy does.
func (t Topology) RetryDelay(attempt int) time.Duration {
	d := t.MinRetryDelay
	for i := 1; i < attempt && d < t.MaxRetryDelay; i++ {
		d *= 2
	}
	return min(d, t.MaxRetryDelay)
}

// ErrNotDelivered is wrapped by a delivery the function did not accept.
var ErrNotDelivered = errors.New("localcloud: the function did not accept the message")

// Fake is the official Pub/Sub fake, served with Pub/Sub's own message
// size limit rather than gRPC's default of 4 MiB, which would refuse the
// large messages that Pub/Sub itself accepts.
type Fake struct {
	*pstest.Server
	Addr string // where clients connect: PUBSUB_EMULATOR_HOST
	grpc *grpc.Server
}

// StartFake starts a Fake on 127.0.0.1.
func StartFake() (*Fake, error) {
	ps := pstest.NewServerWithAddress("127.0.0.1:0")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		ps.Close()
		return nil, fmt.Errorf("localcloud: %w", err)
	}
	const limit = 20 << 20
	gs := grpc.NewServer(grpc.MaxRecvMsgSize(limit), grpc.MaxSendMsgSize(limit))
	pubsubpb.RegisterPublisherServer(gs, &ps.GServer)
	pubsubpb.RegisterSubscriberServer(gs, &ps.GServer)
	go gs.Serve(ln)
	return &Fake{Server: ps, Addr: ln.Addr().String(), grpc: gs}, nil
}

// Close stops the fake.
func (f *Fake) Close() error {
	f.grpc.Stop()
	return f.Server.Close()
}
