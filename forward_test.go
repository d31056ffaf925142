package diy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/pstest"
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
	fn := httptest.NewServer(http.HandlerFunc(e.app.ServeForward))
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
	e.createdID(6, "logged")
	e.post("ADD_TO_AUDIENCE", mutationsBody("ADD_TO_AUDIENCE", mutation(6, "logged", "secret-user")))
	m := e.queued()[0]
	if status, body := e.push(pushBody(t, m, 3)); status != http.StatusOK {
		t.Fatalf("push = %d %s, want 200", status, body)
	}
	var line map[string]any
	for _, l := range strings.Split(e.logs.String(), "\n") {
		if strings.Contains(l, `"forward message"`) {
			_ = json.Unmarshal([]byte(l), &line)
		}
	}
	if line["outcome"] != "applied" || line["added"] != 1.0 || line["audience"] != "logged" ||
		line["attempt"] != 3.0 || line["message_id"] != m.ID || line["severity"] != "INFO" {
		t.Errorf("forward log line = %v", line)
	}
	if strings.Contains(e.logs.String(), "secret-user") {
		t.Errorf("logs contain a user identifier")
	}
}

// pushBody is the body of the Pub/Sub push request that delivers m.
func pushBody(t *testing.T, m *pstest.Message, attempt int) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"subscription":    "projects/test-project/subscriptions/diy-mutations-forward",
		"deliveryAttempt": attempt,
		"message": map[string]any{"data": m.Data, "attributes": m.Attributes,
			"messageId": m.ID, "message_id": m.ID, "orderingKey": m.OrderingKey,
			"publishTime": m.PublishTime.Format(time.RFC3339Nano)},
	})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// push posts body to the forward endpoint as Pub/Sub push does.
func (e *testEnv) push(body string) (int, string) {
	e.t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(e.app.ServeForward))
	defer srv.Close()
	res, err := http.Post(srv.URL, "application/json", strings.NewReader(body))
	if err != nil {
		e.t.Fatalf("push: %v", err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestForwardEndpoint covers what the forward endpoint answers to
// requests that are not deliveries, and to deliveries in each form.
func TestForwardEndpoint(t *testing.T) {
	e := newTestEnv(t)
	srv := httptest.NewServer(http.HandlerFunc(e.app.ServeForward))
	defer srv.Close()
	do := func(method, contentType, body string, headers ...string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL, strings.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	refused := []struct {
		name, method, contentType, body string
		status                          int
		says                            string
	}{
		{"GET", http.MethodGet, "", "", http.StatusMethodNotAllowed, "POST"},
		{"empty", http.MethodPost, "application/json", "", http.StatusBadRequest,
			"The request body is empty; forward takes a Pub/Sub push request"},
		{"not JSON", http.MethodPost, "application/json", "hello", http.StatusBadRequest,
			"The request body is not JSON; forward takes a Pub/Sub push request"},
		{"JSON cut short", http.MethodPost, "application/json", `{"message":{`, http.StatusBadRequest,
			"is not JSON"},
		{"JSON without a message", http.MethodPost, "application/json", `{"subscription":"s"}`,
			http.StatusBadRequest, "The request body has no Pub/Sub message; forward takes"},
		{"JSON of another shape", http.MethodPost, "application/json", `[1,2]`,
			http.StatusBadRequest, "The request body has no Pub/Sub message; forward takes"},
		{"larger than any message", http.MethodPost, "application/json",
			`{"message":{"data":"` + strings.Repeat("A", MaxPushBytes) + `"}}`,
			http.StatusRequestEntityTooLarge, "larger than"},
	}
	for _, tc := range refused {
		status, body := do(tc.method, tc.contentType, tc.body)
		var answer struct{ Error string }
		if err := json.Unmarshal([]byte(body), &answer); status != tc.status || err != nil ||
			!strings.Contains(answer.Error, tc.says) || !strings.HasSuffix(answer.Error, ".") ||
			strings.Contains(answer.Error, "diy.") {
			t.Errorf("%s: answered %d %s, want %d with a sentence that says %q",
				tc.name, status, clip(body), tc.status, tc.says)
		}
		if want := fmt.Sprintf(`"message":"forward request refused","status":%d`, tc.status); !strings.Contains(e.logs.String(), want) {
			t.Errorf("%s: no log line %s", tc.name, want)
		}
	}

	// A structured-mode CloudEvent is applied like a push request.
	id := e.createdID(7, "structured")
	e.post("ADD_TO_AUDIENCE", mutationsBody("ADD_TO_AUDIENCE", mutation(7, "structured", "s1")))
	m := e.queued()[0]
	ev := pushEvent(t, m.ID, m.Data, m.Attributes)
	structured, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	if status, body := do(http.MethodPost, "application/cloudevents+json", string(structured)); status != http.StatusOK {
		t.Fatalf("structured CloudEvent = %d %s, want 200", status, body)
	}
	if got := e.members(id); !slices.Equal(got, []string{"s1"}) {
		t.Errorf("members = %v, want [s1]", got)
	}

	// A CloudEvent that holds no Pub/Sub message is dead-lettered whole.
	status, body := do(http.MethodPost, "text/plain", "plain words", "Ce-Id", "odd-1",
		"Ce-Specversion", "1.0", "Ce-Type", "com.example.other", "Ce-Source", "//example")
	if status != http.StatusOK {
		t.Fatalf("CloudEvent without a message = %d %s, want 200 after dead-lettering", status, body)
	}
	// So is one of another type, whatever its data.
	status, body = do(http.MethodPost, "application/json", pushBody(t, m, 1), "Ce-Id", "odd-2",
		"Ce-Specversion", "1.0", "Ce-Type", "com.example.other", "Ce-Source", "//example")
	if status != http.StatusOK {
		t.Fatalf("CloudEvent of another type = %d %s, want 200 after dead-lettering", status, body)
	}
	dl := e.deadLetters(2)
	slices.SortFunc(dl, func(a, b *pubsub.Message) int {
		return strings.Compare(a.Attributes[AttrDeadLetterMessageID], b.Attributes[AttrDeadLetterMessageID])
	})
	if string(dl[0].Data) != "plain words" || dl[0].Attributes[AttrDeadLetterMessageID] != "odd-1" ||
		!strings.Contains(dl[0].Attributes[AttrDeadLetterReason], "does not hold a Pub/Sub message") {
		t.Errorf("dead letter = %q %v", dl[0].Data, dl[0].Attributes)
	}
	if r := dl[1].Attributes[AttrDeadLetterReason]; !strings.Contains(r, `its type is "com.example.other"`) {
		t.Errorf("dead letter reason = %q, want it to name the event's type", r)
	}

	// A delivery that must be retried is answered 500 with a sentence.
	e.post("ADD_TO_AUDIENCE", mutationsBody("ADD_TO_AUDIENCE", mutation(7, "not-yet", "n1")))
	queued := e.queued()
	status, body = e.push(pushBody(t, queued[len(queued)-1], 1))
	var answer struct{ Error string }
	if err := json.Unmarshal([]byte(body), &answer); status != http.StatusInternalServerError || err != nil ||
		answer.Error != "The message was not applied, and Pub/Sub will deliver it again: the audience has no mapping yet." {
		t.Errorf("unmapped delivery = %d %s, want 500 with a sentence", status, body)
	}

	// A message in a format version this forwarder does not read is
	// dead-lettered with a reason that says so.
	future := &pstest.Message{ID: "v2", Data: []byte(`{"version":2,"type":"ADD_TO_AUDIENCE"}`)}
	if status, body := e.push(pushBody(t, future, 1)); status != http.StatusOK {
		t.Fatalf("version 2 = %d %s, want 200 after dead-lettering", status, body)
	}
	if r := e.deadLetters(1)[0].Attributes[AttrDeadLetterReason]; !strings.Contains(r, "format version 1") {
		t.Errorf("dead letter reason = %q, want it to name the format version", r)
	}
}

// TestForwardConcurrentDeliveries sends waves of deliveries at once, a
// third of each wave abandoned by its sender part-way, as Pub/Sub abandons
// a push at its acknowledgement deadline. Each of the others must be
// answered, and answered 200: an abandoned delivery must neither hold up
// nor cancel the work of another. Goroutines spinning beside the test keep
// the scheduler as busy as on a loaded CI machine, where a handler that
// pairs requests with the wrong receiver (as the CloudEvents SDK's
// NewHTTPReceiveHandler does) leaves a delivery unanswered.
func TestForwardConcurrentDeliveries(t *testing.T) {
	e := newTestEnv(t)
	id := e.createdID(9, "busy")
	const n = 90
	for i := range n {
		body := mutationsBody("ADD_TO_AUDIENCE", mutation(9, "busy", fmt.Sprintf("u%03d", i)))
		if a := e.post("ADD_TO_AUDIENCE", body); a.status != http.StatusOK {
			t.Fatalf("ADD %d = %d %s", i, a.status, a.body)
		}
	}
	msgs := e.queued()
	if len(msgs) != n {
		t.Fatalf("queued %d messages, want %d", len(msgs), n)
	}
	e.pangolin.SetFaults(pangolin.Faults{Latency: 20 * time.Millisecond})
	srv := httptest.NewServer(http.HandlerFunc(e.app.ServeForward))
	// A handler that never returns would make Close wait for ever; the
	// failure is reported below instead.
	t.Cleanup(func() {
		if !t.Failed() {
			srv.Close()
		}
	})
	busy, idle := context.WithCancel(context.Background())
	defer idle()
	for range 4 {
		go func() {
			for busy.Err() == nil {
			}
		}()
	}

	for wave := range 3 {
		abandoned := func(i int) bool { return (i+wave)%3 == 0 }
		results := make([]error, n)
		var wg sync.WaitGroup
		for i, m := range msgs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				within := 15 * time.Second
				if abandoned(i) {
					within = time.Duration(5+i%11) * time.Millisecond
				}
				ctx, cancel := context.WithTimeout(context.Background(), within)
				defer cancel()
				status, body, err := postCloudEvent(ctx, srv.URL, e.topo, m)
				switch {
				case abandoned(i):
				case err != nil:
					results[i] = fmt.Errorf("no answer within %s: %w", within, err)
				case status != http.StatusOK:
					results[i] = fmt.Errorf("answered %d %s", status, body)
				}
			}()
		}
		wg.Wait()
		failed := 0
		for i, err := range results {
			if err != nil {
				if failed++; failed <= 5 {
					t.Errorf("wave %d, delivery %d: %v", wave, i, err)
				}
			}
		}
		if failed > 0 {
			t.Fatalf("wave %d: %d of the %d deliveries kept by their sender failed", wave, failed, n-n/3)
		}
	}
	idle()
	got := e.members(id)
	for i := range n {
		if u := fmt.Sprintf("u%03d", i); !slices.Contains(got, u) {
			t.Errorf("member %s is missing, though two of its three deliveries were answered 200", u)
		}
	}
}

// postCloudEvent delivers m to url as the messagePublished CloudEvent in
// binary mode, as Eventarc's Pub/Sub trigger does, and returns the answer.
func postCloudEvent(ctx context.Context, url string, topo localcloud.Topology,
	m *pstest.Message) (int, string, error) {
	body, err := json.Marshal(map[string]any{"message": map[string]any{
		"messageId": m.ID, "data": m.Data, "attributes": m.Attributes,
		"publishTime": m.PublishTime, "orderingKey": m.OrderingKey}})
	if err != nil {
		return 0, "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Ce-Id", m.ID)
	req.Header.Set("Ce-Specversion", "1.0")
	req.Header.Set("Ce-Type", localcloud.MessagePublishedType)
	req.Header.Set("Ce-Source", "//pubsub.googleapis.com/"+topo.TopicName())
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, string(b), err
}
