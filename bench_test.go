package diy

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"

	"github.com/dmp-diy/diy/dmp"
	"github.com/dmp-diy/diy/hmac"
	"github.com/dmp-diy/diy/pangolin"
)

// hundredMutations is a typical DMP request: 100 users over 4 audiences.
func hundredMutations() string {
	muts := make([]string, 100)
	for i := range muts {
		muts[i] = mutation(123, fmt.Sprintf("a5940e473cea659.35669387149742501%d", i%4),
			fmt.Sprintf("12478286%03d", i))
	}
	return mutationsBody("ADD_TO_AUDIENCE", muts...)
}

// BenchmarkVerifyDecodeGroup measures the CPU work of an ADD request
// before anything is sent: signature, type, decoding and grouping.
func BenchmarkVerifyDecodeGroup(b *testing.B) {
	body := []byte(hundredMutations())
	sig := hmac.Sign([]byte(testSecret), body)
	v, _ := hmac.NewVerifier([]byte(testSecret))
	now := time.Now()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := v.Verify(body, sig); err != nil {
			b.Fatal(err)
		}
		call, err := dmp.Parse("ADD_TO_AUDIENCE", body)
		if err != nil {
			b.Fatal(err)
		}
		muts, err := call.Mutations()
		if err != nil {
			b.Fatal(err)
		}
		if batch := dmp.Group(call.Type, muts, now); batch.Queued != 100 {
			b.Fatalf("queued %d", batch.Queued)
		}
	}
}

// BenchmarkHandler measures a whole 100-mutation ADD call, publishing to
// the Pub/Sub fake and waiting for its acknowledgements.
func BenchmarkHandler(b *testing.B) {
	e := newTestEnv(b)
	body := hundredMutations()
	sig := hmac.Sign([]byte(testSecret), []byte(body))
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/?type=ADD_TO_AUDIENCE", strings.NewReader(body))
		req.Header.Set("X-HMAC", sig)
		rec := httptest.NewRecorder()
		e.app.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}

// BenchmarkCreateAudience reports CREATE_AUDIENCE latency percentiles
// against a local Pangolin; run it with -benchtime=1000x for 1,000 creates.
func BenchmarkCreateAudience(b *testing.B) {
	e := newTestEnv(b)
	var lat []time.Duration
	i := 0
	for b.Loop() {
		body := createBody(1, fmt.Sprintf("bench-audience-%d", i), "Bench")
		i++
		start := time.Now()
		if a := e.post("CREATE_AUDIENCE", body); a.status != http.StatusOK {
			b.Fatalf("CREATE = %d %s", a.status, a.body)
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkForward measures mutations forwarded per second from the topic
// into a local Pangolin: 100-mutation messages over 50 audiences, pushed
// through the subscription to the forward function.
func BenchmarkForward(b *testing.B) {
	e := newTestEnv(b)
	var calls atomic.Int64
	counted := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		e.pangolin.ServeHTTP(w, r)
	}))
	b.Cleanup(counted.Close)
	e.app.pangolin = pangolin.NewClient(counted.URL, "", nil)
	const audiences = 50
	for a := range audiences {
		e.createdID(1, fmt.Sprintf("fwd-%d", a))
	}
	pusher := e.startForwarding()
	pub := e.client.Publisher(e.topo.Topic)
	pub.EnableMessageOrdering = true
	b.Cleanup(pub.Stop)
	ctx := context.Background()

	calls.Store(0)
	b.ResetTimer()
	var results []*pubsub.PublishResult
	for n := range b.N {
		m := &dmp.Message{Version: dmp.MessageVersion, Type: dmp.AddToAudience, Customer: "1",
			Audience: fmt.Sprintf("fwd-%d", n%audiences), ReceivedAt: time.Now()}
		for u := range 100 {
			m.Mutations = append(m.Mutations, []byte(mutation(1, m.Audience, fmt.Sprintf("u-%d-%d", n, u))))
		}
		data, _ := m.Encode()
		results = append(results, pub.Publish(ctx, &pubsub.Message{Data: data,
			Attributes: m.Attributes(), OrderingKey: m.OrderingKey()}))
	}
	for _, r := range results {
		if _, err := r.Get(ctx); err != nil {
			b.Fatal(err)
		}
	}
	eventually(b, 5*time.Minute, "every message was forwarded", func() bool {
		return pusher.Delivered() >= int64(b.N)
	})
	b.StopTimer()
	b.ReportMetric(float64(100*b.N)/b.Elapsed().Seconds(), "mutations/s")
	b.ReportMetric(float64(calls.Load())/float64(b.N), "pangolin-calls/msg")
}
