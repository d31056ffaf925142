package dmp

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/tidwall/gjson"
)

// MessageVersion is the version of the queued message format written by
// this package. Readers refuse versions they do not know.
const MessageVersion = 1

// MaxMessageBytes bounds the data of one queued message. Pub/Sub accepts
// 10 MB per message including attributes and ordering key; the margin
// leaves room for those and for the message's own fields.
const MaxMessageBytes = 9_000_000

// Message attribute names. They repeat fields of the data so that
// operators and subscription filters can read them without decoding.
const (
	AttrVersion  = "version"
	AttrType     = "type"
	AttrCustomer = "customer"
	AttrAudience = "audience"
)

// Message is what diy publishes and the forwarding function consumes: a
// group of mutations of one call type for one (customer, audience), in the
// order the DMP sent them. A call of a type this package does not know is
// carried whole in Body instead, for the dead-letter path.
type Message struct {
	Version    int               `json:"version"`
	Type       CallType          `json:"type"`
	Customer   string            `json:"customer,omitempty"`
	Audience   string            `json:"audience,omitempty"`
	ReceivedAt time.Time         `json:"received_at"`
	Mutations  []json.RawMessage `json:"mutations,omitempty"`
	Body       []byte            `json:"body,omitempty"` // base64 in JSON
	Truncated  bool              `json:"body_truncated,omitempty"`
}

// MaxUnknownBody is how much of an unknown call's body a message keeps:
// base64 makes it a third larger, and the message must stay under
// Pub/Sub's limit.
const MaxUnknownBody = 6_000_000

// Unknown returns the message that keeps a call of a type this package
// does not know, for the dead-letter path. A body over MaxUnknownBody is
// cut there, and the message says so.
func Unknown(t CallType, body []byte, receivedAt time.Time) *Message {
	m := &Message{Version: MessageVersion, Type: t, ReceivedAt: receivedAt.UTC(), Body: body}
	if len(body) > MaxUnknownBody {
		m.Body, m.Truncated = body[:MaxUnknownBody], true
	}
	return m
}

// MaxOrderingKeyBytes is Pub/Sub's limit on an ordering key.
const MaxOrderingKeyBytes = 1024

// OrderingKey is the Pub/Sub ordering key of the message: messages for
// one (customer, audience) are delivered in the order they were published.
// A key that would exceed Pub/Sub's limit is replaced by its SHA-256, which
// is as stable and, in practice, as unique. Unknown calls have none.
func (m *Message) OrderingKey() string {
	if m.Customer == "" && m.Audience == "" {
		return ""
	}
	key := m.Customer + "/" + m.Audience
	if len(key) > MaxOrderingKeyBytes {
		sum := sha256.Sum256([]byte(key))
		return "sha256:" + hex.EncodeToString(sum[:])
	}
	return key
}

// Attributes returns the Pub/Sub attributes of the message.
func (m *Message) Attributes() map[string]string {
	a := map[string]string{
		AttrVersion: fmt.Sprint(m.Version),
		AttrType:    string(m.Type),
	}
	if m.Customer != "" {
		a[AttrCustomer] = m.Customer
	}
	if m.Audience != "" && len(m.Audience) <= 1024 {
		a[AttrAudience] = m.Audience
	}
	return a
}

// Encode returns the message's JSON data. Mutations are copied exactly as
// the DMP sent them: json.Marshal would compact and HTML-escape them.
func (m *Message) Encode() ([]byte, error) {
	head := *m
	head.Mutations = nil
	b, err := json.Marshal(&head)
	if err != nil {
		return nil, fmt.Errorf("dmp.Encode: %w", err)
	}
	if len(m.Mutations) == 0 {
		return b, nil
	}
	n := len(b) + len(`,"mutations":[]`)
	for _, r := range m.Mutations {
		n += len(r) + 1
	}
	out := make([]byte, 0, n)
	out = append(out, b[:len(b)-1]...) // without the closing brace
	out = append(out, `,"mutations":[`...)
	for i, r := range m.Mutations {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, r...)
	}
	return append(out, "]}"...), nil
}

// ErrUnknownVersion is wrapped by DecodeMessage for a version it cannot
// read; such a message goes to the dead-letter path.
var ErrUnknownVersion = fmt.Errorf("unknown message version")

// DecodeMessage decodes queued message data. It reads the mutations as
// diy decoded them, so that anything diy accepted can be read here.
func DecodeMessage(data []byte) (*Message, error) {
	if depth(data) > MaxDepth || !gjson.ValidBytes(data) {
		return nil, fmt.Errorf("dmp.DecodeMessage: not valid JSON within %d levels", MaxDepth)
	}
	root := gjson.ParseBytes(data)
	if !root.IsObject() {
		return nil, fmt.Errorf("dmp.DecodeMessage: not a JSON object")
	}
	f := root.Map()
	m := &Message{
		Version:  int(f["version"].Int()),
		Type:     CallType(f["type"].Str),
		Customer: f["customer"].Str,
		Audience: f["audience"].Str,
	}
	if m.Version != MessageVersion {
		return nil, fmt.Errorf("dmp.DecodeMessage: version %d: %w", m.Version, ErrUnknownVersion)
	}
	if at := f["received_at"].Str; at != "" {
		t, err := time.Parse(time.RFC3339Nano, at)
		if err != nil {
			return nil, fmt.Errorf("dmp.DecodeMessage: received_at: %w", err)
		}
		m.ReceivedAt = t
	}
	f["mutations"].ForEach(func(_, v gjson.Result) bool {
		m.Mutations = append(m.Mutations, json.RawMessage(v.Raw))
		return true
	})
	if b := f["body"]; b.Exists() {
		body, err := base64.StdEncoding.DecodeString(b.Str)
		if err != nil {
			return nil, fmt.Errorf("dmp.DecodeMessage: body: %w", err)
		}
		m.Body = body
	}
	m.Truncated = f["body_truncated"].Bool()
	return m, nil
}

// Batch is the result of grouping a mutation call.
type Batch struct {
	Messages []*Message // in first-seen order of their groups
	Queued   int        // mutations carried by Messages
	Skipped  int        // mutations that could not be forwarded
	// Problems counts the skipped mutations by Mutation.Problem.
	Problems map[string]int
}

// Group splits the mutations of one call into messages: one per
// (customer, audience) in the order each group first appears, each keeping
// its mutations in request order, and more than one where a group's data
// would exceed MaxMessageBytes. Mutations that cannot be forwarded are
// counted in Skipped and left out.
func Group(t CallType, muts []Mutation, receivedAt time.Time) Batch {
	type key struct{ customer, audience string }
	var b Batch
	open := make(map[key]*Message)
	size := make(map[key]int)
	for _, m := range muts {
		if !m.Forwardable() {
			b.Skipped++
			if b.Problems == nil {
				b.Problems = make(map[string]int)
			}
			b.Problems[m.Problem]++
			continue
		}
		k := key{m.Customer, m.Audience}
		msg := open[k]
		if msg == nil || size[k]+len(m.Raw)+1 > MaxMessageBytes-envelopeBytes(msg) {
			msg = &Message{Version: MessageVersion, Type: t, Customer: m.Customer,
				Audience: m.Audience, ReceivedAt: receivedAt.UTC()}
			open[k], size[k] = msg, 0
			b.Messages = append(b.Messages, msg)
		}
		msg.Mutations = append(msg.Mutations, m.Raw)
		size[k] += len(m.Raw) + 1
		b.Queued++
	}
	return b
}

// envelopeBytes is a generous bound on everything in the encoded message
// besides the mutations themselves.
func envelopeBytes(m *Message) int {
	if m == nil {
		return 0
	}
	return 256 + 2*(len(m.Customer)+len(m.Audience))
}
