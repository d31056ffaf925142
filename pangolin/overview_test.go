package pangolin_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/dmp-diy/diy/pangolin"
)

func TestOverview(t *testing.T) {
	const longKey = "live-key-0123456789abcdef"
	_, url := startServer(t, pangolin.ServerOptions{APIKeys: []string{longKey, keyTwo}})
	c := newClient(url, longKey)
	a := mustCreate(t, c, `<script>alert("x")</script>`, `ext"><img src=x>`)
	mustUpdate(t, c, a.ID, []string{"<i>member</i>", "m2"}, nil)
	mustCreate(t, newClient(url, keyTwo), "Plain name", "")

	status, h, body := rawCall(t, "GET", url+"/", "", "")
	if status != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
		t.Fatalf("GET / = %d %s", status, h.Get("Content-Type"))
	}
	for _, want := range []string{"&lt;script&gt;", "Plain name", "&lt;i&gt;member&lt;/i&gt;",
		a.ID, "live…", ">2<"} {
		if !strings.Contains(body, want) {
			t.Errorf("overview lacks %q", want)
		}
	}
	for _, bad := range []string{"<script>alert", "<img src=x>", "<i>member", longKey, keyTwo} {
		if strings.Contains(body, bad) {
			t.Errorf("overview shows %q unescaped or in full", bad)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for the log's concurrent writes.
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

func TestRequestLog(t *testing.T) {
	var out syncBuffer
	logger := slog.New(slog.NewJSONHandler(&out, nil))
	_, url := startServer(t, pangolin.ServerOptions{Logger: logger})
	c := newClient(url, keyOne)
	a := mustCreate(t, c, "A", "")
	mustUpdate(t, c, a.ID, []string{"user-secret-1"}, nil)
	if _, err := c.IsMember(testContext(t), a.ID, "user-secret-1"); err != nil {
		t.Fatal(err)
	}
	rawCall(t, "GET", url+"/v1/audiences", "wrong-key", "")

	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d log lines, want 4:\n%s", len(lines), out.String())
	}
	want := []struct {
		pattern string
		status  float64
	}{
		{"POST /v1/audiences", 201},
		{"POST /v1/audiences/{id}/members:batchUpdate", 200},
		{"GET /v1/audiences/{id}/members/{user_id}", 200},
		{"GET /v1/audiences", 401},
	}
	for i, line := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec["pattern"] != want[i].pattern || rec["status"] != want[i].status ||
			rec["method"] == nil || rec["latency_ms"] == nil {
			t.Errorf("log line %d = %s, want pattern %q status %v", i, line, want[i].pattern,
				want[i].status)
		}
		for _, secret := range []string{keyOne, "wrong-key", "user-secret-1"} {
			if strings.Contains(line, secret) {
				t.Errorf("log line %d shows %q", i, secret)
			}
		}
	}
}
