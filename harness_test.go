package diy

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/pstest"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/dmp-diy/diy/hmac"
	"github.com/dmp-diy/diy/localcloud"
	"github.com/dmp-diy/diy/pangolin"
	"github.com/dmp-diy/diy/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

const (
	testProject = "test-project"
	testSecret  = "test-hmac-secret"
	testKey     = "test-pangolin-key"
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

// testEnv is one instance of the integration wired to real stand-ins: the
// Pub/Sub fake, a Pangolin server on a loopback port, and a store.
type testEnv struct {
	t        testing.TB
	cfg      Config
	ps       *pstest.Server
	client   *pubsub.Client
	topo     localcloud.Topology
	pangolin *pangolin.Server
	panURL   string
	app      *App
	diy      *httptest.Server
	logs     *syncBuffer
}

type envOption func(*testEnv)

func withConfig(f func(*Config)) envOption { return func(e *testEnv) { f(&e.cfg) } }

// withReactors installs pstest reactors (scripted Pub/Sub failures).
func withReactors(opts ...pstest.ServerReactorOption) envOption {
	return func(e *testEnv) {
		e.ps = pstest.NewServer(opts...)
	}
}

func newTestEnv(t testing.TB, opts ...envOption) *testEnv {
	t.Helper()
	e := &testEnv{t: t, logs: &syncBuffer{}}
	e.cfg = Config{
		Project: testProject, Topic: "diy-mutations", DeadLetterTopic: "diy-mutations-dead-letter",
		HMACSecrets: []string{testSecret}, ReturnPlatformID: true,
		PangolinAPIKey: testKey, Store: "bolt", DataDir: t.TempDir(),
		KeySecret: DefaultKeySecret, KeyCacheTTL: DefaultKeyCacheTTL,
		UnmappedGrace: DefaultUnmappedGrace, PublishTimeout: DefaultPublishTimeout,
		CreateTimeout: DefaultCreateTimeout, ForwardTimeout: 10 * time.Second,
	}
	for _, o := range opts {
		o(e)
	}
	if e.ps == nil {
		e.ps = pstest.NewServer()
	}
	t.Cleanup(func() { e.ps.Close() })
	t.Setenv("PUBSUB_EMULATOR_HOST", e.ps.Addr)

	var err error
	e.pangolin, err = pangolin.NewServer(pangolin.ServerOptions{APIKeys: []string{testKey}, Seed: 1})
	if err != nil {
		t.Fatalf("pangolin.NewServer() = %v", err)
	}
	pan := httptest.NewServer(e.pangolin)
	t.Cleanup(pan.Close)
	e.panURL = pan.URL
	if e.cfg.PangolinURL == "" {
		e.cfg.PangolinURL = pan.URL
	}

	ctx := context.Background()
	conn, err := grpc.NewClient(e.ps.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("grpc.NewClient() = %v", err)
	}
	e.client, err = pubsub.NewClient(ctx, testProject, option.WithGRPCConn(conn))
	if err != nil {
		t.Fatalf("pubsub.NewClient() = %v", err)
	}
	t.Cleanup(func() { e.client.Close() })
	e.topo = localcloud.DefaultTopology(testProject)
	e.topo.MinRetryDelay, e.topo.MaxRetryDelay = 10*time.Millisecond, 200*time.Millisecond
	if err := e.topo.Create(ctx, e.client); err != nil {
		t.Fatalf("Topology.Create() = %v", err)
	}

	e.app, err = NewApp(ctx, e.cfg, &Options{Logger: NewLogger(e.logs)})
	if err != nil {
		t.Fatalf("NewApp() = %v", err)
	}
	t.Cleanup(func() { e.app.Close() })
	e.diy = httptest.NewServer(e.app)
	t.Cleanup(e.diy.Close)
	return e
}

// call is one request to diy.
type call struct {
	method  string
	query   string // the type parameter, if any
	body    string
	sign    bool   // add X-HMAC made with testSecret
	sig     string // or this X-HMAC value
	headers map[string]string
}

type answer struct {
	status int
	header http.Header
	body   string
}

func (e *testEnv) do(c call) answer {
	e.t.Helper()
	if c.method == "" {
		c.method = http.MethodPost
	}
	url := e.diy.URL + "/"
	if c.query != "" {
		url += "?type=" + c.query
	}
	req, err := http.NewRequest(c.method, url, strings.NewReader(c.body))
	if err != nil {
		e.t.Fatalf("http.NewRequest() = %v", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if c.sign {
		req.Header.Set("X-HMAC", hmac.Sign([]byte(testSecret), []byte(c.body)))
	}
	if c.sig != "" {
		req.Header.Set("X-HMAC", c.sig)
	}
	for k, v := range c.headers {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", c.method, url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return answer{status: res.StatusCode, header: res.Header, body: string(b)}
}

// post sends a signed POST of body with the type parameter typ.
func (e *testEnv) post(typ, body string) answer {
	e.t.Helper()
	return e.do(call{query: typ, body: body, sign: true})
}

// queued returns the messages published to diy's topic, oldest first.
func (e *testEnv) queued() []*pstest.Message {
	var out []*pstest.Message
	for _, m := range e.ps.Messages() {
		if m.Topic == e.topo.TopicName() {
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(a, b *pstest.Message) int { return a.PublishTime.Compare(b.PublishTime) })
	return out
}

// mutation returns one DMP mutation object.
func mutation(customer int, audience, user string) string {
	return fmt.Sprintf(`{"Uuid":"uuid-%s","Audience":%q,"Customer":%d,"Platform":113,`+
		`"External_user_id":%q}`, user, audience, customer, user)
}

func mutationsBody(typ string, muts ...string) string {
	return fmt.Sprintf(`{"Type":%q,"Mutations":[%s]}`, typ, strings.Join(muts, ","))
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
