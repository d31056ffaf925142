package diy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"cloud.google.com/go/pubsub/v2"
	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/dmp-diy/diy/dmp"
	"github.com/dmp-diy/diy/pangolin"
	"github.com/dmp-diy/diy/secrets"
	"github.com/dmp-diy/diy/store"
)

// Attributes added to a message sent to the dead-letter topic.
const (
	AttrDeadLetterReason    = "dead_letter_reason"
	AttrDeadLetterMessageID = "dead_letter_message_id"
	AttrDeadLetterTime      = "dead_letter_time"
)

// PushedMessage is the Pub/Sub message of a push request, and of the
// messagePublished CloudEvent made from one.
type PushedMessage struct {
	ID          string            `json:"messageId"`
	Data        []byte            `json:"data"`
	Attributes  map[string]string `json:"attributes"`
	PublishTime time.Time         `json:"publishTime"`
	OrderingKey string            `json:"orderingKey,omitempty"`
}

// PushRequest is the body of a Pub/Sub push request, and the data of the
// messagePublished CloudEvent. Pub/Sub sets DeliveryAttempt when the
// subscription has a dead-letter policy.
type PushRequest struct {
	Message         PushedMessage `json:"message"`
	Subscription    string        `json:"subscription,omitempty"`
	DeliveryAttempt int           `json:"deliveryAttempt,omitempty"`
}

// MaxPushBytes bounds the body of a delivery: a Pub/Sub message of 10 MB,
// base64-encoded, with its attributes.
const MaxPushBytes = 16 << 20

// PermanentError marks a failure that no retry can fix: the message goes
// to the dead-letter topic with Reason and is acknowledged.
type PermanentError struct {
	Reason string // one sentence, safe to log and to attach to the message
	Err    error  // the cause, if any
}

func (e *PermanentError) Error() string {
	if e.Err == nil {
		return e.Reason
	}
	return e.Reason + ": " + e.Err.Error()
}

func (e *PermanentError) Unwrap() error { return e.Err }

func permanent(err error, format string, args ...any) error {
	return &PermanentError{Reason: fmt.Sprintf(format, args...), Err: err}
}

// errUnmapped is the transient failure of a message whose audience has no
// mapping yet: its CREATE_AUDIENCE may still be running.
var errUnmapped = errors.New("the audience has no mapping yet")

// forwardLog collects what the one log line of a delivery says. It holds
// no user identifiers.
type forwardLog struct {
	messageID, typ, customer, audience string
	attempt                            int
	mutations, added, removed, invalid int
	outcome, reason                    string
	age                                time.Duration
}

// MessagePublishedType is the CloudEvent type of a Pub/Sub message.
const MessagePublishedType = "google.cloud.pubsub.topic.v1.messagePublished"

// ServeForward is the forward function's endpoint. It takes the raw body
// of a Pub/Sub push request, which is what deploy.sh's push subscription
// sends, or the messagePublished CloudEvent in binary or structured mode,
// which is what an Eventarc trigger sends. It answers 200 once the message
// is applied or dead-lettered, and 500 when Pub/Sub must deliver it again.
// A CloudEvent that holds no Pub/Sub message is dead-lettered whole; a
// request that is neither a push request nor a CloudEvent is refused.
//
// Each message is handled inside its own request, under that request's
// context. That is why forward is registered as an HTTP function: the
// Functions Framework serves CloudEvent functions through the CloudEvents
// SDK's NewHTTPReceiveHandler, which passes requests to the function over
// one shared channel and, when requests run concurrently, can run a
// message under another request's context or leave a request unanswered
// (cloudevents/sdk-go issues 1224 and 1332).
func (a *App) ServeForward(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		a.refuse(w, &refusal{http.StatusMethodNotAllowed,
			"The forward function takes Pub/Sub deliveries, which are POST requests."})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxPushBytes)
	req, id, err := readDelivery(r)
	var ref *refusal
	if errors.As(err, &ref) {
		a.refuse(w, ref)
		return
	}
	// Here err is nil, or says that a CloudEvent holds no Pub/Sub message.
	if reason, err := a.forward(r.Context(), req, id, err); err != nil {
		writeError(w, http.StatusInternalServerError,
			"The message was not applied, and Pub/Sub will deliver it again: "+
				strings.TrimSuffix(reason, ".")+".")
		return
	}
	w.WriteHeader(http.StatusOK)
}

// refusal is a request that is not a delivery: its status and the
// sentence that says why.
type refusal struct {
	status   int
	sentence string
}

func (r *refusal) Error() string { return r.sentence }

// refuse answers and logs a refusal. The sentence names no content of the
// request.
func (a *App) refuse(w http.ResponseWriter, r *refusal) {
	a.log.Warn("forward request refused", "status", r.status, "reason", r.sentence)
	writeError(w, r.status, r.sentence)
}

// errNotPubSub is the failure of a CloudEvent that holds no Pub/Sub
// message: no redelivery can change that, so what it holds is
// dead-lettered.
var errNotPubSub = errors.New("the event does not hold a Pub/Sub message")

// readDelivery reads a push request or a CloudEvent. It returns the ID to
// log the delivery under; a *refusal for a request that is neither.
func readDelivery(r *http.Request) (PushRequest, string, error) {
	msg := cehttp.NewMessageFromHttpRequest(r)
	switch msg.ReadEncoding() {
	case binding.EncodingBinary, binding.EncodingStructured:
		ev, err := binding.ToEvent(r.Context(), msg)
		if err != nil {
			return PushRequest{}, "", unreadable(err, fmt.Sprintf(
				"The request is a CloudEvent that cannot be read (%v).", err))
		}
		return pushRequestOf(*ev)
	case binding.EncodingUnknown:
		var req PushRequest
		err := json.NewDecoder(r.Body).Decode(&req)
		var syntax *json.SyntaxError
		switch {
		case errors.Is(err, io.EOF):
			return req, "", unreadable(err, "The request body is empty; "+wantDelivery)
		case errors.As(err, &syntax), errors.Is(err, io.ErrUnexpectedEOF):
			return req, "", unreadable(err, "The request body is not JSON; "+wantDelivery)
		case err != nil, req.Message.ID == "" && req.Message.Data == nil:
			return req, "", unreadable(err, "The request body has no Pub/Sub message; "+wantDelivery)
		}
		return req, req.Message.ID, nil
	}
	return PushRequest{}, "", &refusal{http.StatusBadRequest,
		"The request is a batch of CloudEvents; forward takes one Pub/Sub message per request."}
}

const wantDelivery = `forward takes a Pub/Sub push request ({"message": {...}}) or a messagePublished CloudEvent.`

// unreadable is the refusal of a body that could not be read: 413 when it
// is larger than any delivery, else 400 with sentence.
func unreadable(err error, sentence string) *refusal {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return &refusal{http.StatusRequestEntityTooLarge, fmt.Sprintf(
			"The delivery is larger than %d bytes, more than a Pub/Sub message can be.", MaxPushBytes)}
	}
	return &refusal{http.StatusBadRequest, sentence}
}

// pushRequestOf reads the Pub/Sub message out of a messagePublished
// CloudEvent. An event of another type, or whose data holds no message,
// is returned whole with an error wrapping errNotPubSub.
func pushRequestOf(e cloudevents.Event) (PushRequest, string, error) {
	whole := PushRequest{Message: PushedMessage{ID: e.ID(), Data: e.Data()}}
	if e.Type() != MessagePublishedType {
		return whole, e.ID(), fmt.Errorf("%w: its type is %q", errNotPubSub, clip(e.Type()))
	}
	var req PushRequest
	if err := e.DataAs(&req); err != nil {
		return whole, e.ID(), fmt.Errorf("%w: its data is not a Pub/Sub message", errNotPubSub)
	}
	id := req.Message.ID
	if id == "" {
		id = e.ID()
	}
	return req, id, nil
}

// Forward applies the message of a messagePublished CloudEvent, as
// ServeForward does for a delivery. It returns nil when the message is
// applied or dead-lettered, and an error, so that Pub/Sub delivers the
// message again, only when a retry can succeed.
func (a *App) Forward(ctx context.Context, e cloudevents.Event) error {
	req, id, err := pushRequestOf(e)
	_, err = a.forward(ctx, req, id, err)
	return err
}

// forward applies one delivered message to Pangolin, or dead-letters
// what the delivery holds when notPubSub says it holds no message, and
// logs one line. When the message is to be delivered again, it returns
// why in a few words, besides the error.
func (a *App) forward(ctx context.Context, req PushRequest, id string, notPubSub error) (string, error) {
	start := a.now()
	fl := &forwardLog{messageID: id, attempt: req.DeliveryAttempt}
	var err error
	if notPubSub != nil {
		err = permanent(notPubSub, "%s", notPubSub.Error())
	} else {
		applyCtx, cancel := context.WithTimeout(ctx, a.cfg.ForwardTimeout)
		err = a.apply(applyCtx, req.Message, fl)
		cancel()
	}
	err = a.settle(ctx, req.Message, err, fl)
	a.logForward(fl, a.now().Sub(start))
	return fl.reason, err
}

// settle is where every delivery's fate is decided: applied, dead-lettered
// with its reason, or handed back to Pub/Sub for another attempt.
func (a *App) settle(ctx context.Context, m PushedMessage, err error, fl *forwardLog) error {
	var perm *PermanentError
	switch {
	case err == nil:
		fl.outcome = "applied"
		return nil
	case errors.As(err, &perm):
		fl.reason = perm.Reason
		if dlErr := a.deadLetter(ctx, m.Data, m.Attributes, m.ID, perm.Reason); dlErr != nil {
			fl.outcome, fl.reason = "retry", "dead-lettering failed: "+dlErr.Error()
			return fmt.Errorf("forward: dead-lettering message %s: %w", m.ID, dlErr)
		}
		fl.outcome = "dead-lettered"
		return nil
	}
	fl.outcome, fl.reason = "retry", err.Error()
	return fmt.Errorf("forward: message %s will be delivered again: %w", m.ID, err)
}

// apply decodes the message, resolves its audience and key, and sends the
// final state of each of its users to Pangolin.
func (a *App) apply(ctx context.Context, pm PushedMessage, fl *forwardLog) error {
	msg, err := dmp.DecodeMessage(pm.Data)
	if err != nil {
		if errors.Is(err, dmp.ErrUnknownVersion) {
			return permanent(err, "the message is not in format version %d, the one this forwarder reads",
				dmp.MessageVersion)
		}
		return permanent(err, "the message cannot be decoded (%s)",
			strings.TrimPrefix(err.Error(), "dmp.DecodeMessage: "))
	}
	fl.typ, fl.customer, fl.audience = string(msg.Type), msg.Customer, clip(msg.Audience)
	fl.mutations, fl.age = len(msg.Mutations), a.now().Sub(msg.ReceivedAt)
	if !msg.Type.IsMutation() {
		return permanent(nil, "the DMP sent a call of type %q, which this integration does not handle", msg.Type)
	}
	users, invalid := finalUsers(msg)
	fl.invalid = len(invalid)

	m, err := a.store.Lookup(ctx, msg.Customer, msg.Audience)
	switch {
	case errors.Is(err, store.ErrNotFound) && fl.age < a.cfg.UnmappedGrace:
		return errUnmapped
	case errors.Is(err, store.ErrNotFound):
		return permanent(err, "audience %q of customer %s has no mapping %s after the DMP sent it",
			clip(msg.Audience), msg.Customer, a.cfg.UnmappedGrace)
	case errors.Is(err, store.ErrInvalid):
		return permanent(err, "audience %q of customer %s cannot name a mapping", clip(msg.Audience),
			msg.Customer)
	case err != nil:
		return fmt.Errorf("looking up the audience: %w", err)
	}

	if len(invalid) > 0 {
		if err := a.deadLetterMutations(ctx, msg, pm, invalid); err != nil {
			return err
		}
	}
	if len(users) == 0 {
		return nil
	}
	var add, remove []string
	if msg.Type == dmp.AddToAudience {
		add = users
	} else {
		remove = users
	}
	var res pangolin.UpdateResult
	err = a.withKey(ctx, msg.Customer, func(c *pangolin.Client) error {
		var err error
		res, err = c.UpdateMembers(ctx, m.PangolinID, add, remove)
		return err
	})
	fl.added, fl.removed = res.Added, res.Removed
	return classifyUpdate(err, msg.Customer)
}

// classifyUpdate says whether a failed update can be retried.
func classifyUpdate(err error, customer string) error {
	var apiErr *pangolin.APIError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, secrets.ErrNoKey):
		return permanent(err, "no Pangolin API key is configured for customer %s", customer)
	case errors.Is(err, pangolin.ErrUnauthenticated):
		return permanent(err, "Pangolin refused the API key of customer %s, also after reading it again", customer)
	case errors.Is(err, pangolin.ErrInvalidArgument), errors.Is(err, pangolin.ErrNotFound),
		errors.Is(err, pangolin.ErrTooLarge):
		reason := "Pangolin refused the update"
		if errors.As(err, &apiErr) && apiErr.Message != "" {
			reason += ": " + apiErr.Message
		}
		return permanent(err, "%s", reason)
	}
	return err // rate limits, server errors, timeouts: Pub/Sub delivers again
}

// finalUsers reduces a message to its distinct users, each once, in the
// order first seen; a message holds one kind of change, so each user's
// final operation is the message's. Mutations whose user ID Pangolin
// cannot accept are returned apart.
func finalUsers(msg *dmp.Message) (users []string, invalid []int) {
	seen := make(map[string]bool, len(msg.Mutations))
	for i, raw := range msg.Mutations {
		mu := dmp.DecodeMutation(raw)
		id := mu.ExternalUserID
		if !mu.Forwardable() || len(id) > pangolin.MaxUserIDBytes {
			invalid = append(invalid, i)
			continue
		}
		if !seen[id] {
			seen[id] = true
			users = append(users, id)
		}
	}
	return users, invalid
}

// clip shortens an ID for a log line or a reason.
func clip(id string) string {
	const max = 128
	if len(id) <= max {
		return id
	}
	return id[:max] + "…"
}

// deadLetterMutations sends the mutations Pangolin cannot accept to the
// dead-letter topic, so that the rest of the message can be applied.
func (a *App) deadLetterMutations(ctx context.Context, msg *dmp.Message, pm PushedMessage,
	idx []int) error {
	part := *msg
	part.Mutations = nil
	for _, i := range idx {
		part.Mutations = append(part.Mutations, msg.Mutations[i])
	}
	data, err := part.Encode()
	if err != nil {
		return err
	}
	return a.deadLetter(ctx, data, part.Attributes(), pm.ID, fmt.Sprintf(
		"mutations with no usable user ID (missing, not UTF-8 or longer than %d bytes): %d",
		pangolin.MaxUserIDBytes, len(idx)))
}

// deadLetter publishes data to the dead-letter topic with the reason and
// waits until Pub/Sub has it.
func (a *App) deadLetter(ctx context.Context, data []byte, attrs map[string]string, id,
	reason string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	out := make(map[string]string, len(attrs)+3)
	for k, v := range attrs {
		out[k] = v
	}
	out[AttrDeadLetterReason] = reason
	out[AttrDeadLetterMessageID] = id
	out[AttrDeadLetterTime] = a.now().UTC().Format(time.RFC3339Nano)
	_, err := a.dead.Publish(ctx, &pubsub.Message{Data: data, Attributes: out}).Get(ctx)
	return err
}

func (a *App) logForward(fl *forwardLog, took time.Duration) {
	level := slog.LevelInfo
	switch fl.outcome {
	case "dead-lettered":
		level = slog.LevelError
	case "retry":
		level = slog.LevelWarn
	}
	attrs := []slog.Attr{
		slog.String("message_id", fl.messageID), slog.String("type", fl.typ),
		slog.String("customer", fl.customer), slog.String("audience", fl.audience),
		slog.Int("mutations", fl.mutations), slog.Int("added", fl.added),
		slog.Int("removed", fl.removed), slog.Int("invalid", fl.invalid),
		slog.String("outcome", fl.outcome),
		slog.Float64("age_ms", float64(fl.age.Microseconds())/1000),
		slog.Float64("latency_ms", float64(took.Microseconds())/1000),
	}
	if fl.attempt > 0 {
		attrs = append(attrs, slog.Int("attempt", fl.attempt))
	}
	if fl.reason != "" {
		attrs = append(attrs, slog.String("reason", fl.reason))
	}
	a.log.LogAttrs(context.Background(), level, "forward message", attrs...)
}
