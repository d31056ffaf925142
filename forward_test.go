package diy

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/dmp-diy/diy/dmp"
	"github.com/dmp-diy/diy/localcloud"
	"github.com/dmp-diy/diy/pangolin"
)

// startForwarding serves the forward function as a CloudEvent endpoint and
// lets the subscription push to it until the test ends.
func (e *testEnv) startForwarding() *localcloud.Pusher {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	h, err := localcloud.CloudEventHandler(e.app.Forward)
	if err != nil {
		e.t.Fatalf("CloudEventHandler() = %v", err)
	}
	fn := httptest.NewServer(h)
	p := &localcloud.Pusher{Client: e.client, Topology: e.topo, URL: fn.URL}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = p.Run(ctx)
	}()
	e.t.Cleanup(func() {
		cancel()
		<-done
		fn.Close()
	})
	return p
}

// members returns the sorted members of a Pangolin audience.
func (e *testEnv) members(id string) []string {
	e.t.Helper()
	ids, err := pangolin.NewClient(e.panURL, testKey, nil).AllMembers(context.Background(), id)
	if err != nil {
		e.t.Fatalf("AllMembers(%s) = %v", id, err)
	}
	slices.Sort(ids)
	return ids
}

// deadLetters receives n messages from the dead-letter subscription.
func (e *testEnv) deadLetters(n int) []*pubsub.Message {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var mu sync.Mutex
	var got []*pubsub.Message
	err := e.client.Subscriber(e.topo.DeadLetterSubscription).Receive(ctx,
		func(_ context.Context, m *pubsub.Message) {
			m.Ack()
			mu.Lock()
			defer mu.Unlock()
			got = append(got, m)
			if len(got) >= n {
				cancel()
			}
		})
	if err != nil {
		e.t.Fatalf("Receive(dead letters) = %v", err)
	}
	if len(got) < n {
		e.t.Fatalf("received %d dead letters, want %d", len(got), n)
	}
	return got
}

// awaitMembers waits until each Pangolin audience holds exactly want.
func (e *testEnv) awaitMembers(want map[string][]string) {
	e.t.Helper()
	eventually(e.t, 60*time.Second, "Pangolin's members match what the DMP asked for", func() bool {
		for id, w := range want {
			if !slices.Equal(e.members(id), w) {
				return false
			}
		}
		return true
	})
}

func TestForwardAddThenRemove(t *testing.T) {
	e := newTestEnv(t)
	e.startForwarding()
	id := e.createdID(123, "a5940e473cea659.356693871497425011")
	if a := e.post("ADD_TO_AUDIENCE", specAdd); a.status != http.StatusOK {
		t.Fatalf("ADD = %d %s", a.status, a.body)
	}
	e.awaitMembers(map[string][]string{id: {"12478286329"}})
	// The DMP uses the returned ID from now on.
	remove := mutationsBody("REMOVE_FROM_AUDIENCE", mutation(123, id, "12478286329"))
	if a := e.post("REMOVE_FROM_AUDIENCE", remove); a.status != http.StatusOK {
		t.Fatalf("REMOVE = %d %s", a.status, a.body)
	}
	e.awaitMembers(map[string][]string{id: nil})
	if logs := e.logs.String(); strings.Contains(logs, "12478286329") {
		t.Errorf("logs contain a user identifier:\n%s", logs)
	}
}

// TestForwardInterleavedUnderFaults sends adds and removes of the same users
// across many requests and audiences while Pangolin fails a fifth of its
// calls and rate-limits, and checks that Pangolin ends exactly as the DMP
// asked.
func TestForwardInterleavedUnderFaults(t *testing.T) {
	// A short delivery deadline against a rate limit whose Retry-After is
	// a whole second makes deliveries fail, so Pub/Sub redelivers.
	e := newTestEnv(t, withConfig(func(c *Config) { c.ForwardTimeout = 500 * time.Millisecond }))
	e.pangolin.SetFaults(pangolin.Faults{FailureRate: 0.2, RateLimit: 30, Burst: 5})
	e.startForwarding()
	rng := rand.New(rand.NewPCG(7, 7))
	type aud struct {
		customer int
		dmpID    string
		id       string // what the DMP uses: the returned ID for even ones
	}
	var auds []aud
	for i := range 6 {
		a := aud{customer: 1 + i%2, dmpID: fmt.Sprintf("aud-%d", i)}
		a.id = e.createdID(a.customer, a.dmpID)
		auds = append(auds, a)
	}
	want := map[string]map[string]bool{}
	for range 40 {
		typ := "ADD_TO_AUDIENCE"
		if rng.IntN(3) == 0 {
			typ = "REMOVE_FROM_AUDIENCE"
		}
		var muts []string
		for range 1 + rng.IntN(30) {
			a := auds[rng.IntN(len(auds))]
			user := fmt.Sprintf("user-%d", rng.IntN(25))
			ref := a.dmpID
			if a.customer == 2 {
				ref = a.id
			}
			muts = append(muts, mutation(a.customer, ref, user))
			if want[a.id] == nil {
				want[a.id] = map[string]bool{}
			}
			want[a.id][user] = typ == "ADD_TO_AUDIENCE"
		}
		if a := e.post(typ, mutationsBody(typ, muts...)); a.status != http.StatusOK {
			t.Fatalf("%s = %d %s", typ, a.status, a.body)
		}
	}
	expected := map[string][]string{}
	for _, a := range auds {
		var users []string
		for u, in := range want[a.id] {
			if in {
				users = append(users, u)
			}
		}
		slices.Sort(users)
		expected[a.id] = users
	}
	e.awaitMembers(expected)
	if n := strings.Count(e.logs.String(), `"outcome":"retry"`); n == 0 {
		t.Errorf("no delivery failed, so redelivery was not exercised")
	}
}

func TestForwardRedeliveryIsHarmless(t *testing.T) {
	e := newTestEnv(t)
	id := e.createdID(5, "redelivered")
	e.post("ADD_TO_AUDIENCE", mutationsBody("ADD_TO_AUDIENCE", mutation(5, "redelivered", "u1"),
		mutation(5, "redelivered", "u2"), mutation(5, "redelivered", "u1")))
	msgs := e.queued()
	if len(msgs) != 1 {
		t.Fatalf("queued %d messages, want 1", len(msgs))
	}
	ev := pushEvent(t, msgs[0].ID, msgs[0].Data, msgs[0].Attributes)
	for i := range 3 {
		if err := e.app.Forward(context.Background(), ev); err != nil {
			t.Fatalf("Forward() delivery %d = %v, want nil", i+1, err)
		}
	}
	if got := e.members(id); !slices.Equal(got, []string{"u1", "u2"}) {
		t.Errorf("members after three deliveries = %v, want [u1 u2]", got)
	}
}

// pushEvent builds the CloudEvent that a push subscription delivers.
func pushEvent(t *testing.T, id string, data []byte, attrs map[string]string) cloudevents.Event {
	t.Helper()
	ev := cloudevents.NewEvent()
	ev.SetID(id)
	ev.SetType(localcloud.MessagePublishedType)
	ev.SetSource("//pubsub.googleapis.com/projects/test-project/topics/diy-mutations")
	if err := ev.SetData(cloudevents.ApplicationJSON, map[string]any{
		"message": map[string]any{"messageId": id, "data": data, "attributes": attrs},
	}); err != nil {
		t.Fatalf("SetData() = %v", err)
	}
	return ev
}

func TestForwardPoisonMessageDoesNotBlockItsKey(t *testing.T) {
	e := newTestEnv(t)
	e.startForwarding()
	id := e.createdID(1, "A")
	pub := e.client.Publisher(e.topo.Topic)
	pub.EnableMessageOrdering = true
	defer pub.Stop()
	ctx := context.Background()
	if _, err := pub.Publish(ctx, &pubsub.Message{Data: []byte("not a message"),
		OrderingKey: "1/A"}).Get(ctx); err != nil {
		t.Fatalf("Publish(poison) = %v", err)
	}
	if a := e.post("ADD_TO_AUDIENCE", mutationsBody("ADD_TO_AUDIENCE", mutation(1, "A", "after"))); a.status != 200 {
		t.Fatalf("ADD = %d %s", a.status, a.body)
	}
	e.awaitMembers(map[string][]string{id: {"after"}})
	dl := e.deadLetters(1)
	if r := dl[0].Attributes[AttrDeadLetterReason]; !strings.Contains(r, "cannot be decoded") {
		t.Errorf("dead letter reason = %q, want it to say the message cannot be decoded", r)
	}
	if string(dl[0].Data) != "not a message" {
		t.Errorf("dead letter data = %q, want the original bytes", dl[0].Data)
	}
}

func TestForwardAddBeforeCreate(t *testing.T) {
	e := newTestEnv(t)
	pusher := e.startForwarding()
	body := mutationsBody("ADD_TO_AUDIENCE", mutation(3, "early", "u1"))
	if a := e.post("ADD_TO_AUDIENCE", body); a.status != http.StatusOK {
		t.Fatalf("ADD = %d %s", a.status, a.body)
	}
	eventually(t, 10*time.Second, "the unmapped ADD was retried", func() bool {
		return strings.Count(e.logs.String(), `"outcome":"retry"`) >= 2
	})
	if pusher.Delivered() != 0 {
		t.Fatalf("the ADD was acknowledged before its audience existed")
	}
	id := e.createdID(3, "early")
	e.awaitMembers(map[string][]string{id: {"u1"}})
}

func TestForwardDeadLetters(t *testing.T) {
	tests := []struct {
		name   string
		cfg    func(*Config)
		setup  func(e *testEnv)
		body   func(e *testEnv) string
		reason string
	}{
		{"unknown call type", nil, nil,
			func(*testEnv) string { return `{"Type":"NEW_KIND_OF_CALL","X":1}` },
			`"NEW_KIND_OF_CALL"`},
		{"audience never created", func(c *Config) { c.UnmappedGrace = time.Nanosecond }, nil,
			func(*testEnv) string {
				return mutationsBody("ADD_TO_AUDIENCE", mutation(8, "never", "u1"))
			}, "has no mapping"},
		{"audience ID no store can hold", nil, nil,
			func(*testEnv) string {
				return mutationsBody("ADD_TO_AUDIENCE", mutation(8, strings.Repeat("a", 5000), "u1"))
			}, "cannot name a mapping"},
		{"key refused again after reading it again", nil,
			func(e *testEnv) { e.createdID(8, "aud") },
			func(e *testEnv) string {
				e.app.keys = staticKey("revoked")
				return mutationsBody("ADD_TO_AUDIENCE", mutation(8, "aud", "u1"))
			}, "refused the API key of customer 8"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var opts []envOption
			if tc.cfg != nil {
				opts = append(opts, withConfig(tc.cfg))
			}
			e := newTestEnv(t, opts...)
			if tc.setup != nil {
				tc.setup(e)
			}
			e.startForwarding()
			if a := e.post("", tc.body(e)); a.status != http.StatusOK {
				t.Fatalf("POST = %d %s", a.status, a.body)
			}
			dl := e.deadLetters(1)
			if r := dl[0].Attributes[AttrDeadLetterReason]; !strings.Contains(r, tc.reason) {
				t.Errorf("dead letter reason = %q, want it to contain %q", r, tc.reason)
			}
		})
	}
}

func TestForwardSplitsOutInvalidUserIDs(t *testing.T) {
	e := newTestEnv(t)
	e.startForwarding()
	id := e.createdID(4, "mixed")
	long := strings.Repeat("x", pangolin.MaxUserIDBytes+1)
	body := mutationsBody("ADD_TO_AUDIENCE", mutation(4, "mixed", "good"), mutation(4, "mixed", long))
	if a := e.post("", body); a.status != http.StatusOK {
		t.Fatalf("POST = %d %s", a.status, a.body)
	}
	e.awaitMembers(map[string][]string{id: {"good"}})
	dl := e.deadLetters(1)
	msg, err := dmp.DecodeMessage(dl[0].Data)
	if err != nil || len(msg.Mutations) != 1 || !strings.Contains(string(msg.Mutations[0]), long) {
		t.Errorf("dead letter = %+v, %v; want just the mutation with the long ID", msg, err)
	}
}

// staticKey is a Keys that always answers one key, as a key revoked in
// Secret Manager but still readable would.
type staticKey string

func (k staticKey) APIKey(context.Context, string) (string, error) { return string(k), nil }
func (staticKey) Invalidate(string)                                {}

func TestForwardLogLine(t *testing.T) {
	e := newTestEnv(t)
	id := e.createdID(6, "logged")
	e.post("ADD_TO_AUDIENCE", mutationsBody("ADD_TO_AUDIENCE", mutation(6, "logged", "secret-user")))
	m := e.queued()[0]
	if err := e.app.Forward(context.Background(), pushEvent(t, m.ID, m.Data, m.Attributes)); err != nil {
		t.Fatalf("Forward() = %v", err)
	}
	var line map[string]any
	for _, l := range strings.Split(e.logs.String(), "\n") {
		if strings.Contains(l, `"forward message"`) {
			_ = json.Unmarshal([]byte(l), &line)
		}
	}
	if line["outcome"] != "applied" || line["added"] != 1.0 || line["audience"] != "logged" ||
		line["severity"] != "INFO" {
		t.Errorf("forward log line = %v", line)
	}
	if strings.Contains(e.logs.String(), "secret-user") {
		t.Errorf("logs contain a user identifier")
	}
	_ = id
}
