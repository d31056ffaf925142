package localcloud

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"cloud.google.com/go/pubsub/v2"
	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
)

// MessagePublishedType is the CloudEvent type of a Pub/Sub message.
const MessagePublishedType = "google.cloud.pubsub.topic.v1.messagePublished"

// Pusher delivers the messages of Topology.Subscription to the function
// at URL, one message at a time per ordering key, as the messagePublished
// CloudEvent that Google's Pub/Sub trigger sends. A message is
// acknowledged when the function answers 2xx; otherwise it is handed back
// after the retry policy's delay, and after MaxDeliveryAttempts it is
// moved to the dead-letter topic, as the subscription's dead-letter policy
// does on Google Cloud. (The fake's own dead lettering leaves the message
// behind, blocking its ordering key, so the Pusher does it.)
type Pusher struct {
	Client   *pubsub.Client
	Topology Topology
	URL      string
	HTTP     *http.Client // nil: a client with a 5-minute timeout
	Log      *slog.Logger // nil: no log

	inFlight  atomic.Int64
	delivered atomic.Int64
}

// Run receives and delivers messages until ctx ends.
func (p *Pusher) Run(ctx context.Context) error {
	hc := p.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 5 * time.Minute}
	}
	proto, err := cehttp.New(cehttp.WithTarget(p.URL), cehttp.WithClient(*hc))
	if err != nil {
		return fmt.Errorf("localcloud: CloudEvents protocol: %w", err)
	}
	ce, err := cloudevents.NewClient(proto, cloudevents.WithTimeNow())
	if err != nil {
		return fmt.Errorf("localcloud: CloudEvents client: %w", err)
	}
	sub := p.Client.Subscriber(p.Topology.Subscription)
	sub.ReceiveSettings.NumGoroutines = 1
	sub.ReceiveSettings.MaxOutstandingMessages = 64
	return sub.Receive(ctx, func(ctx context.Context, m *pubsub.Message) {
		p.inFlight.Add(1)
		defer p.inFlight.Add(-1)
		p.handle(ctx, ce, m)
	})
}

// InFlight is the number of messages being delivered or waiting for a
// retry right now.
func (p *Pusher) InFlight() int64 { return p.inFlight.Load() }

// Delivered is the number of messages the function has accepted so far.
func (p *Pusher) Delivered() int64 { return p.delivered.Load() }

func (p *Pusher) handle(ctx context.Context, ce cloudevents.Client, m *pubsub.Message) {
	attempt := 1
	if m.DeliveryAttempt != nil {
		attempt = *m.DeliveryAttempt
	}
	err := p.deliver(ctx, ce, m, attempt)
	if err == nil {
		p.delivered.Add(1)
		m.Ack()
		return
	}
	if attempt >= p.Topology.MaxDeliveryAttempts {
		p.deadLetter(ctx, m, attempt, err)
		return
	}
	delay := p.Topology.RetryDelay(attempt)
	if p.Log != nil {
		p.Log.Warn("push delivery failed; Pub/Sub will deliver the message again",
			"message_id", m.ID, "attempt", attempt, "retry_in_ms", delay.Milliseconds(),
			"error", err.Error())
	}
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	m.Nack()
}

// deadLetter moves m to the dead-letter topic after its last attempt, with
// the attributes Pub/Sub adds, and acknowledges it. Should the dead-letter
// topic refuse it, the message is handed back instead of dropped.
func (p *Pusher) deadLetter(ctx context.Context, m *pubsub.Message, attempt int, cause error) {
	attrs := make(map[string]string, len(m.Attributes)+3)
	for k, v := range m.Attributes {
		attrs[k] = v
	}
	attrs["CloudPubSubDeadLetterSourceSubscription"] = p.Topology.Subscription
	attrs["CloudPubSubDeadLetterSourceSubscriptionProject"] = p.Topology.Project
	attrs["CloudPubSubDeadLetterSourceDeliveryCount"] = strconv.Itoa(attempt)
	pub := p.Client.Publisher(p.Topology.DeadLetterTopic)
	defer pub.Stop()
	_, err := pub.Publish(ctx, &pubsub.Message{Data: m.Data, Attributes: attrs}).Get(ctx)
	if err != nil {
		m.Nack()
		return
	}
	if p.Log != nil {
		p.Log.Error("message dead-lettered after its last delivery attempt",
			"message_id", m.ID, "attempts", attempt, "error", cause.Error())
	}
	m.Ack()
}

// deliver sends m as a messagePublished CloudEvent and waits for the
// answer. The event's data carries the delivery attempt, as a push
// request's body does.
func (p *Pusher) deliver(ctx context.Context, ce cloudevents.Client, m *pubsub.Message, attempt int) error {
	ev := cloudevents.NewEvent()
	ev.SetID(m.ID)
	ev.SetType(MessagePublishedType)
	ev.SetSource("//pubsub.googleapis.com/" + p.Topology.TopicName())
	ev.SetTime(m.PublishTime)
	data := map[string]any{
		"subscription":    p.Topology.subName(p.Topology.Subscription),
		"deliveryAttempt": attempt,
		"message": map[string]any{
			"messageId":   m.ID,
			"data":        m.Data,
			"attributes":  m.Attributes,
			"publishTime": m.PublishTime,
			"orderingKey": m.OrderingKey,
		},
	}
	if err := ev.SetData(cloudevents.ApplicationJSON, data); err != nil {
		return fmt.Errorf("encoding the event: %w", err)
	}
	res := ce.Send(ctx, ev)
	if !cloudevents.IsACK(res) {
		return fmt.Errorf("%w: %v", ErrNotDelivered, res)
	}
	return nil
}
