package diy

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2/pstest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/dmp-diy/diy/dmp"
	"github.com/dmp-diy/diy/hmac"
)

// The examples of the DMP's documentation, as it sends them.
const (
	specCreate = `{
    "Type": "CREATE_AUDIENCE",
    "Name": "Test audience",
    "Customer": 123,
    "Audience": "a5940e473cea659.356693871497425011"
}`
	specAdd = `{
    "Type": "ADD_TO_AUDIENCE",
    "Mutations": [{
        "Uuid": "ab043529-3e55-4672-52f0-18887ea12345",
        "Audience": "a5940e473cea659.356693871497425011",
        "Customer": 123,
        "Platform": 113,
        "External_user_id": "12478286329"
    }]
}`
)

// errorSentence decodes an error answer and checks it is one readable
// sentence in the protocol's shape.
func errorSentence(t *testing.T, a answer) string {
	t.Helper()
	var body struct{ Error string }
	if err := json.Unmarshal([]byte(a.body), &body); err != nil || body.Error == "" {
		t.Fatalf("error answer %q is not {\"error\": \"...\"}", a.body)
	}
	if !strings.HasSuffix(body.Error, ".") || strings.Contains(body.Error, "\n") {
		t.Errorf("error %q is not one sentence", body.Error)
	}
	if ct := a.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want JSON", ct)
	}
	return body.Error
}

func TestGetAnswers200WithoutCredentials(t *testing.T) {
	e := newTestEnv(t, withConfig(func(c *Config) {
		c.BasicAuthUser, c.BasicAuthPass = "dmp", "pw"
	}))
	if a := e.do(call{method: http.MethodGet}); a.status != http.StatusOK || a.body != "" {
		t.Errorf("GET = %d %q, want 200 with no body", a.status, a.body)
	}
	if n := len(e.queued()); n != 0 {
		t.Errorf("GET queued %d messages, want 0", n)
	}
}

func TestValidate(t *testing.T) {
	e := newTestEnv(t)
	for _, c := range []call{
		{query: "VALIDATE", body: "", sign: true},
		{query: "VALIDATE", body: `{"Type":"VALIDATE","Unknown":{"x":1}}`, sign: true},
		{body: `{"Type":"VALIDATE"}`, sign: true},
	} {
		if a := e.do(c); a.status != http.StatusOK {
			t.Errorf("POST ?type=%s %q = %d %s, want 200", c.query, c.body, a.status, a.body)
		}
	}
	if a := e.do(call{query: "VALIDATE"}); a.status != http.StatusUnauthorized {
		t.Errorf("unsigned VALIDATE = %d, want 401", a.status)
	}
	if n := len(e.queued()); n != 0 {
		t.Errorf("VALIDATE queued %d messages, want 0", n)
	}
}

func TestSignatures(t *testing.T) {
	e := newTestEnv(t)
	body := specAdd
	good := hmac.Sign([]byte(testSecret), []byte(body))
	var reserialized map[string]any
	_ = json.Unmarshal([]byte(body), &reserialized)
	compact, _ := json.Marshal(reserialized)

	tests := []struct {
		name string
		c    call
		want int
	}{
		{"valid", call{query: "ADD_TO_AUDIENCE", body: body, sig: good}, 200},
		{"upper-case hex", call{query: "ADD_TO_AUDIENCE", body: body, sig: strings.ToUpper(good)}, 200},
		{"over an empty body", call{query: "VALIDATE", body: "",
			sig: hmac.Sign([]byte(testSecret), nil)}, 200},
		{"missing", call{query: "ADD_TO_AUDIENCE", body: body}, 401},
		{"wrong", call{query: "ADD_TO_AUDIENCE", body: body, sig: strings.Repeat("ab", 20)}, 401},
		{"not hex", call{query: "ADD_TO_AUDIENCE", body: body, sig: strings.Repeat("zz", 20)}, 401},
		{"short", call{query: "ADD_TO_AUDIENCE", body: body, sig: good[:10]}, 401},
		{"other secret", call{query: "ADD_TO_AUDIENCE", body: body,
			sig: hmac.Sign([]byte("other"), []byte(body))}, 401},
		{"body with a trailing newline", call{query: "ADD_TO_AUDIENCE", body: body + "\n", sig: good}, 401},
		{"body re-serialized after signing", call{query: "ADD_TO_AUDIENCE", body: string(compact),
			sig: good}, 401},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := e.do(tc.c)
			if a.status != tc.want {
				t.Fatalf("POST = %d %s, want %d", a.status, a.body, tc.want)
			}
			if tc.want == 401 {
				errorSentence(t, a)
			}
		})
	}
}

func TestFailsClosedWithoutSecret(t *testing.T) {
	e := newTestEnv(t, withConfig(func(c *Config) { c.HMACSecrets = nil }))
	for _, sig := range []string{"", hmac.Sign(nil, []byte(specAdd)), hmac.Sign([]byte(testSecret), []byte(specAdd))} {
		a := e.do(call{query: "ADD_TO_AUDIENCE", body: specAdd, sig: sig})
		if a.status != http.StatusUnauthorized {
			t.Errorf("POST signed %q without a configured secret = %d, want 401", sig, a.status)
		}
	}
	if logs := e.logs.String(); !strings.Contains(logs, "DIY_HMAC_SECRET") ||
		!strings.Contains(logs, `"severity":"ERROR"`) {
		t.Errorf("log does not say, as an error, that DIY_HMAC_SECRET is missing:\n%s", logs)
	}
	if n := len(e.queued()); n != 0 {
		t.Errorf("queued %d messages, want 0", n)
	}
}

func TestSecretRotation(t *testing.T) {
	e := newTestEnv(t, withConfig(func(c *Config) { c.HMACSecrets = []string{"new", "old"} }))
	for _, s := range []string{"new", "old"} {
		a := e.do(call{query: "VALIDATE", sig: hmac.Sign([]byte(s), nil)})
		if a.status != http.StatusOK {
			t.Errorf("VALIDATE signed with %q = %d, want 200", s, a.status)
		}
	}
}

func TestBasicAuth(t *testing.T) {
	on := newTestEnv(t, withConfig(func(c *Config) {
		c.BasicAuthUser, c.BasicAuthPass = "dmp", "s3cret-pass"
	}))
	basic := func(u, p string) map[string]string {
		r, _ := http.NewRequest("GET", "/", nil)
		r.SetBasicAuth(u, p)
		return map[string]string{"Authorization": r.Header.Get("Authorization")}
	}
	tests := []struct {
		name    string
		headers map[string]string
		want    int
	}{
		{"right", basic("dmp", "s3cret-pass"), 200},
		{"missing", nil, 401},
		{"wrong password", basic("dmp", "nope"), 401},
		{"wrong user", basic("other", "s3cret-pass"), 401},
		{"not basic", map[string]string{"Authorization": "Bearer x"}, 401},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := on.do(call{query: "VALIDATE", sign: true, headers: tc.headers})
			if a.status != tc.want {
				t.Fatalf("VALIDATE = %d, want %d", a.status, tc.want)
			}
			if tc.want == 401 {
				errorSentence(t, a)
				if !strings.HasPrefix(a.header.Get("WWW-Authenticate"), "Basic") {
					t.Errorf("WWW-Authenticate = %q, want Basic", a.header.Get("WWW-Authenticate"))
				}
			}
		})
	}

	off := newTestEnv(t)
	if a := off.do(call{query: "VALIDATE", sign: true}); a.status != http.StatusOK {
		t.Errorf("VALIDATE without Basic Auth configured = %d, want 200", a.status)
	}
}

func TestBadCalls(t *testing.T) {
	e := newTestEnv(t)
	tests := []struct {
		name string
		c    call
		want int
	}{
		{"PUT", call{method: http.MethodPut, body: "{}", sign: true}, 405},
		{"DELETE", call{method: http.MethodDelete}, 405},
		{"not JSON", call{query: "ADD_TO_AUDIENCE", body: "Mutations=1", sign: true}, 400},
		{"Mutations as an object", call{body: `{"Type":"ADD_TO_AUDIENCE","Mutations":{"a":1}}`,
			sign: true}, 400},
		{"type parameter and body differ", call{query: "REMOVE_FROM_AUDIENCE", body: specAdd,
			sign: true}, 400},
		{"no type at all", call{body: `{"Mutations":[]}`, sign: true}, 400},
		{"create without Name", call{body: `{"Type":"CREATE_AUDIENCE","Customer":1,"Audience":"a"}`,
			sign: true}, 400},
		{"11 MiB body", call{query: "ADD_TO_AUDIENCE", body: strings.Repeat(" ", 11<<20),
			sign: true}, 413},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := e.do(tc.c)
			if a.status != tc.want {
				t.Fatalf("%s = %d %s, want %d", tc.name, a.status, a.body, tc.want)
			}
			errorSentence(t, a)
		})
	}
	if n := len(e.queued()); n != 0 {
		t.Errorf("bad calls queued %d messages, want 0", n)
	}
}

func TestSpecExampleIsQueued(t *testing.T) {
	e := newTestEnv(t)
	a := e.post("ADD_TO_AUDIENCE", specAdd)
	if a.status != http.StatusOK {
		t.Fatalf("spec ADD example = %d %s, want 200", a.status, a.body)
	}
	msgs := e.queued()
	if len(msgs) != 1 {
		t.Fatalf("queued %d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if want := "123/a5940e473cea659.356693871497425011"; m.OrderingKey != want {
		t.Errorf("OrderingKey = %q, want %q", m.OrderingKey, want)
	}
	got, err := dmp.DecodeMessage(m.Data)
	if err != nil {
		t.Fatalf("DecodeMessage() = %v", err)
	}
	if got.Type != dmp.AddToAudience || got.Customer != "123" || len(got.Mutations) != 1 ||
		got.ReceivedAt.IsZero() {
		t.Errorf("queued message = %+v", got)
	}
	if !strings.Contains(string(got.Mutations[0]), `"Uuid": "ab043529-3e55-4672-52f0-18887ea12345"`) {
		t.Errorf("queued mutation %s is not the DMP's bytes", got.Mutations[0])
	}
	if m.Attributes["type"] != "ADD_TO_AUDIENCE" || m.Attributes["customer"] != "123" {
		t.Errorf("attributes = %v", m.Attributes)
	}
}

func TestTolerantDecoding(t *testing.T) {
	e := newTestEnv(t)
	body := `{"Type":"REMOVE_FROM_AUDIENCE","NewTopLevel":{"deep":[1,{"x":null}]},"Mutations":[` +
		`{"Uuid":"u","Audience":98765432109876543210,"Customer":"77","Platform":"113",` +
		`"External_user_id":12345678901234567890123,"Brand_new":{"a":"<b>"}}]}`
	if a := e.post("", body); a.status != http.StatusOK {
		t.Fatalf("POST = %d %s, want 200", a.status, a.body)
	}
	msgs := e.queued()
	if len(msgs) != 1 {
		t.Fatalf("queued %d messages, want 1", len(msgs))
	}
	if want := "77/98765432109876543210"; msgs[0].OrderingKey != want {
		t.Errorf("OrderingKey = %q, want %q (customer as a string, audience digits exact)",
			msgs[0].OrderingKey, want)
	}
	got, _ := dmp.DecodeMessage(msgs[0].Data)
	mu := dmp.DecodeMutation(got.Mutations[0])
	if mu.ExternalUserID != "12345678901234567890123" {
		t.Errorf("External_user_id = %q, want the digits exactly", mu.ExternalUserID)
	}
	if !strings.Contains(string(got.Mutations[0]), `"Brand_new":{"a":"<b>"}`) {
		t.Errorf("unknown fields not kept byte for byte: %s", got.Mutations[0])
	}
}

func TestGroupsByCustomerAndAudience(t *testing.T) {
	e := newTestEnv(t)
	body := mutationsBody("ADD_TO_AUDIENCE",
		mutation(1, "A", "u1"), mutation(2, "A", "u2"), mutation(1, "B", "u3"),
		mutation(1, "A", "u4"), mutation(2, "C", "u5"), `null`, `{"Customer":1,"Audience":"A"}`)
	a := e.post("ADD_TO_AUDIENCE", body)
	if a.status != http.StatusOK || !strings.Contains(a.body, `"queued":5`) ||
		!strings.Contains(a.body, `"skipped":2`) {
		t.Fatalf("POST = %d %s, want 200 with 5 queued and 2 skipped", a.status, a.body)
	}
	want := map[string][]string{"1/A": {"u1", "u4"}, "2/A": {"u2"}, "1/B": {"u3"}, "2/C": {"u5"}}
	msgs := e.queued()
	if len(msgs) != len(want) {
		t.Fatalf("queued %d messages, want %d", len(msgs), len(want))
	}
	for _, m := range msgs {
		got, _ := dmp.DecodeMessage(m.Data)
		var users []string
		for _, r := range got.Mutations {
			mu := dmp.DecodeMutation(r)
			users = append(users, mu.ExternalUserID)
		}
		if fmt.Sprint(users) != fmt.Sprint(want[m.OrderingKey]) {
			t.Errorf("message %s holds %v, want %v", m.OrderingKey, users, want[m.OrderingKey])
		}
		if got.OrderingKey() != m.OrderingKey {
			t.Errorf("message data names %s, ordering key is %s", got.OrderingKey(), m.OrderingKey)
		}
	}
}

func TestUnforwardableMutationsAreSkipped(t *testing.T) {
	e := newTestEnv(t)
	body := mutationsBody("ADD_TO_AUDIENCE", mutation(1, "A", "good"),
		`{"Audience":"bad\xffaudience","Customer":1,"External_user_id":"u"}`,
		`{"Audience":"A","Customer":"abc","External_user_id":"u"}`,
		`{"Audience":"A","Customer":1,"External_user_id":"bad\xffuser"}`, `"not an object"`)
	body = strings.ReplaceAll(body, `\xff`, "\xff") // invalid UTF-8, as raw bytes
	a := e.post("ADD_TO_AUDIENCE", body)
	if a.status != http.StatusOK || !strings.Contains(a.body, `"queued":1`) ||
		!strings.Contains(a.body, `"skipped":4`) {
		t.Fatalf("POST = %d %s, want 200 with 1 queued and 4 skipped", a.status, a.body)
	}
	if n := len(e.queued()); n != 1 {
		t.Errorf("queued %d messages, want 1", n)
	}
	if logs := e.logs.String(); !strings.Contains(logs, `"Customer of the wrong kind":1`) {
		t.Errorf("the log does not count skipped mutations by reason:\n%s", logs)
	}
}

func TestEmptyMutations(t *testing.T) {
	e := newTestEnv(t)
	for _, body := range []string{`{"Type":"ADD_TO_AUDIENCE","Mutations":[]}`,
		`{"Type":"REMOVE_FROM_AUDIENCE","Mutations":null}`} {
		if a := e.post("", body); a.status != http.StatusOK {
			t.Errorf("POST %s = %d %s, want 200", body, a.status, a.body)
		}
	}
	if n := len(e.queued()); n != 0 {
		t.Errorf("queued %d messages, want 0", n)
	}
}

func TestTenThousandMutations(t *testing.T) {
	e := newTestEnv(t)
	muts := make([]string, 10000)
	for i := range muts {
		muts[i] = mutation(1+i%3, fmt.Sprintf("aud-%d", i%7), fmt.Sprintf("user-%05d", i))
	}
	a := e.post("ADD_TO_AUDIENCE", mutationsBody("ADD_TO_AUDIENCE", muts...))
	if a.status != http.StatusOK || !strings.Contains(a.body, `"queued":10000`) {
		t.Fatalf("POST = %d %s, want 200 with 10000 queued", a.status, a.body)
	}
	total := 0
	for _, m := range e.queued() {
		got, _ := dmp.DecodeMessage(m.Data)
		total += len(got.Mutations)
	}
	if total != 10000 {
		t.Errorf("topic holds %d mutations, want 10000", total)
	}
}

// failPublish is a pstest reactor that refuses the next n Publish calls
// with code.
type failPublish struct {
	n    atomic.Int32
	code codes.Code
}

func (f *failPublish) React(any) (bool, any, error) {
	if f.n.Add(-1) >= 0 {
		return true, nil, status.Error(f.code, "injected failure")
	}
	return false, nil, nil
}

func TestPublishFailure(t *testing.T) {
	fail := &failPublish{code: codes.PermissionDenied}
	e := newTestEnv(t, withReactors(pstest.ServerReactorOption{FuncName: "Publish", Reactor: fail}))
	fail.n.Store(1)
	a := e.post("ADD_TO_AUDIENCE", specAdd)
	if a.status != http.StatusServiceUnavailable {
		t.Fatalf("POST while Pub/Sub refuses = %d %s, want 503", a.status, a.body)
	}
	errorSentence(t, a)
	if strings.Contains(a.body, `"queued":`) {
		t.Errorf("503 answer %s reports something as accepted", a.body)
	}
	// The ordering key was resumed: the same audience is accepted at once.
	if a := e.post("ADD_TO_AUDIENCE", specAdd); a.status != http.StatusOK {
		t.Fatalf("next POST for the same audience = %d %s, want 200", a.status, a.body)
	}
	if n := len(e.queued()); n != 1 {
		t.Errorf("queued %d messages, want 1", n)
	}
}

// holdPublish is a pstest reactor that keeps Publish calls waiting until
// released.
type holdPublish struct{ release chan struct{} }

func (h *holdPublish) React(any) (bool, any, error) {
	<-h.release
	return false, nil, nil
}

func TestPublishDeadline(t *testing.T) {
	hold := &holdPublish{release: make(chan struct{})}
	e := newTestEnv(t, withReactors(pstest.ServerReactorOption{FuncName: "Publish", Reactor: hold}),
		withConfig(func(c *Config) { c.PublishTimeout = 300 * time.Millisecond }))
	t.Cleanup(func() { close(hold.release) })
	start := time.Now()
	a := e.post("ADD_TO_AUDIENCE", specAdd)
	took := time.Since(start)
	if a.status != http.StatusServiceUnavailable {
		t.Fatalf("POST while Pub/Sub hangs = %d %s, want 503", a.status, a.body)
	}
	// The deadline is the behaviour: the DMP's target is 1 s.
	if took > time.Second {
		t.Errorf("answer took %s while Pub/Sub hung, want under the DMP's 1 s target", took)
	}
}

func TestUnknownTypeIsKept(t *testing.T) {
	e := newTestEnv(t)
	body := `{"Type":"DELETE_AUDIENCE","Audience":"a1","Customer":5}`
	if a := e.post("", body); a.status != http.StatusOK {
		t.Fatalf("POST of an unknown type = %d %s, want 200", a.status, a.body)
	}
	msgs := e.queued()
	if len(msgs) != 1 {
		t.Fatalf("queued %d messages, want 1", len(msgs))
	}
	got, err := dmp.DecodeMessage(msgs[0].Data)
	if err != nil || got.Type != "DELETE_AUDIENCE" || string(got.Body) != body {
		t.Errorf("queued %+v, %v; want the whole call kept", got, err)
	}
	if !strings.Contains(e.logs.String(), `"severity":"WARNING"`) {
		t.Errorf("unknown call not logged as a warning:\n%s", e.logs)
	}
}

func TestLogLines(t *testing.T) {
	e := newTestEnv(t, withConfig(func(c *Config) {
		c.BasicAuthUser, c.BasicAuthPass = "dmp", "basic-pass-value"
	}))
	r, _ := http.NewRequest("GET", "/", nil)
	r.SetBasicAuth("dmp", "basic-pass-value")
	sig := hmac.Sign([]byte(testSecret), []byte(specAdd))
	e.do(call{query: "ADD_TO_AUDIENCE", body: specAdd, sig: sig,
		headers: map[string]string{"Authorization": r.Header.Get("Authorization")}})
	e.do(call{query: "ADD_TO_AUDIENCE", body: specAdd, sig: strings.Repeat("0", 40)})

	logs := e.logs.String()
	for _, secret := range []string{testSecret, "basic-pass-value", sig, "12478286329",
		"ab043529-3e55-4672-52f0-18887ea12345"} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain %q:\n%s", secret, logs)
		}
	}
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs), "\n") {
		var v map[string]any
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("log line %q is not JSON", l)
		}
		if v["message"] == "diy call" {
			lines = append(lines, v)
		}
	}
	if len(lines) != 2 {
		t.Fatalf("got %d request log lines, want 2:\n%s", len(lines), logs)
	}
	if lines[0]["severity"] != "INFO" || lines[0]["status"] != 200.0 || lines[0]["mutations"] != 1.0 ||
		lines[0]["type"] != "ADD_TO_AUDIENCE" || lines[0]["latency_ms"] == nil {
		t.Errorf("accepted call logged as %v", lines[0])
	}
	if lines[1]["severity"] != "WARNING" || lines[1]["status"] != 401.0 || lines[1]["reason"] == nil {
		t.Errorf("refused call logged as %v", lines[1])
	}
	e.do(call{query: "ADD_TO_AUDIENCE", body: "{", sign: true,
		headers: map[string]string{"Authorization": r.Header.Get("Authorization")}})
	if logs := e.logs.String(); !strings.Contains(logs, `"status":400`) ||
		!strings.Contains(logs, `"reason":"The body is not valid JSON`) {
		t.Errorf("a 400 is logged without its reason:\n%s", logs)
	}
}

func TestConfigFromEnv(t *testing.T) {
	env := map[string]string{
		"GOOGLE_CLOUD_PROJECT": "p", "DIY_HMAC_SECRET": "a", "DIY_HMAC_SECRET_PREVIOUS": "b",
		"DIY_RETURN_PLATFORM_ID": "false", "DIY_DATA_DIR": "/tmp/x", "DIY_PUBLISH_TIMEOUT": "500ms",
	}
	c, err := ConfigFromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("ConfigFromEnv() = %v", err)
	}
	if c.Project != "p" || len(c.HMACSecrets) != 2 || c.ReturnPlatformID || c.Store != "bolt" ||
		c.PublishTimeout != 500*time.Millisecond || c.Topic != DefaultTopic {
		t.Errorf("ConfigFromEnv() = %+v", c)
	}
	env = map[string]string{"DIY_RETURN_PLATFORM_ID": "maybe", "DIY_KEY_CACHE_TTL": "-1s"}
	_, err = ConfigFromEnv(func(k string) string { return env[k] })
	if err == nil || !strings.Contains(err.Error(), "DIY_RETURN_PLATFORM_ID") ||
		!strings.Contains(err.Error(), "DIY_KEY_CACHE_TTL") {
		t.Errorf("ConfigFromEnv(bad values) = %v, want both named", err)
	}
}

func TestNewAppNeedsProject(t *testing.T) {
	_, err := NewApp(context.Background(), Config{Store: "bolt", DataDir: t.TempDir()}, nil)
	if err == nil || !strings.Contains(err.Error(), "GOOGLE_CLOUD_PROJECT") {
		t.Errorf("NewApp(no project) = %v, want an error naming GOOGLE_CLOUD_PROJECT", err)
	}
}
