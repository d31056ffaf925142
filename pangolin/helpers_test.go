package pangolin_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dmp-diy/diy/pangolin"
)

// Keys of the two accounts of the test servers.
const (
	keyOne = "test-key-account-one"
	keyTwo = "test-key-account-two"
)

// startServer serves a Pangolin server with opts (default keys keyOne and
// keyTwo) on loopback; both are closed when the test ends.
func startServer(t *testing.T, opts pangolin.ServerOptions) (*pangolin.Server, string) {
	t.Helper()
	return startServerWith(t, opts, nil)
}

// startServerWith is startServer with wrap around the server's handler.
func startServerWith(t *testing.T, opts pangolin.ServerOptions,
	wrap func(http.Handler) http.Handler) (*pangolin.Server, string) {
	t.Helper()
	if opts.APIKeys == nil {
		opts.APIKeys = []string{keyOne, keyTwo}
	}
	srv, err := pangolin.NewServer(opts)
	if err != nil {
		t.Fatalf("NewServer() = %v", err)
	}
	var h http.Handler = srv
	if wrap != nil {
		h = wrap(srv)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(func() {
		ts.Close()
		if err := srv.Close(); err != nil {
			t.Errorf("Close() = %v", err)
		}
	})
	return srv, ts.URL
}

// newClient returns a client of url with key.
func newClient(url, key string) *pangolin.Client {
	return pangolin.NewClient(url, key, &pangolin.ClientOptions{MaxElapsed: 10 * time.Second})
}

// testContext is a context that ends with the test, or after 20s.
func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// rawCall sends one request without the client and returns the answer's
// status, headers and body.
func rawCall(t *testing.T, method, url, key, body string) (int, http.Header, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatalf("NewRequest(%s %s) = %v", method, url, err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	return resp.StatusCode, resp.Header, string(data)
}

// mustCreate creates an audience through c.
func mustCreate(t *testing.T, c *pangolin.Client, name, externalID string) pangolin.Audience {
	t.Helper()
	a, _, err := c.CreateAudience(testContext(t), name, externalID)
	if err != nil {
		t.Fatalf("CreateAudience(%q, %q) = %v", name, externalID, err)
	}
	return a
}

// mustUpdate changes members through c.
func mustUpdate(t *testing.T, c *pangolin.Client, id string,
	add, remove []string) pangolin.UpdateResult {
	t.Helper()
	res, err := c.UpdateMembers(testContext(t), id, add, remove)
	if err != nil {
		t.Fatalf("UpdateMembers(%s, %d adds, %d removes) = %v", id, len(add), len(remove), err)
	}
	return res
}

// attempts records the requests a server received.
type attempts struct {
	mu    sync.Mutex
	times []time.Time
	codes []int
}

// wrap records every request and its status before passing it on.
func (a *attempts) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		start := time.Now()
		next.ServeHTTP(rec, r)
		a.mu.Lock()
		a.times = append(a.times, start)
		a.codes = append(a.codes, rec.Code)
		a.mu.Unlock()
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	})
}

// snapshot returns the requests seen so far.
func (a *attempts) snapshot() ([]time.Time, []int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]time.Time(nil), a.times...), append([]int(nil), a.codes...)
}

// ids returns n user IDs "<prefix>-00000" and on.
func ids(prefix string, from, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%05d", prefix, from+i)
	}
	return out
}

// readAll reads an answer's body.
func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return string(data)
}
