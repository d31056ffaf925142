package pangolin_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dmp-diy/diy/pangolin"
)

// errorCode returns the code of an error body, failing the test when body is
// not one.
func errorCode(t *testing.T, body string) string {
	t.Helper()
	var eb struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal([]byte(body), &eb); err != nil || eb.Error.Message == "" {
		t.Fatalf("body %q is not an error body with a message (%v)", body, err)
	}
	return eb.Error.Code
}

func TestAuthentication(t *testing.T) {
	_, url := startServer(t, pangolin.ServerOptions{})
	paths := []struct{ method, path, body string }{
		{"POST", "/v1/audiences", `{"name":"x"}`},
		{"GET", "/v1/audiences", ""},
		{"GET", "/v1/audiences/1000000001", ""},
		{"POST", "/v1/audiences/1000000001/members:batchUpdate", `{"add":["u"]}`},
		{"GET", "/v1/audiences/1000000001/members", ""},
		{"GET", "/v1/audiences/1000000001/members/u", ""},
	}
	keys := []struct{ name, header string }{
		{"missing", ""},
		{"unknown", "Bearer not-a-key"},
		{"other scheme", "Basic " + keyOne},
		{"empty bearer", "Bearer "},
	}
	for _, p := range paths {
		for _, k := range keys {
			t.Run(p.method+" "+p.path+" "+k.name, func(t *testing.T) {
				req, _ := http.NewRequest(p.method, url+p.path, strings.NewReader(p.body))
				if k.header != "" {
					req.Header.Set("Authorization", k.header)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				body := readAll(t, resp)
				if resp.StatusCode != http.StatusUnauthorized {
					t.Fatalf("status = %d, want 401", resp.StatusCode)
				}
				if got := errorCode(t, body); got != "unauthenticated" {
					t.Errorf("code = %q, want unauthenticated", got)
				}
				if resp.Header.Get("WWW-Authenticate") == "" {
					t.Error("no WWW-Authenticate header")
				}
			})
		}
	}
}

func TestOpenEndpoints(t *testing.T) {
	_, url := startServer(t, pangolin.ServerOptions{})
	for _, path := range []string{"/healthz", "/"} {
		if status, _, _ := rawCall(t, "GET", url+path, "", ""); status != http.StatusOK {
			t.Errorf("GET %s without key = %d, want 200", path, status)
		}
	}
}

func TestUnknownPathAndMethod(t *testing.T) {
	_, url := startServer(t, pangolin.ServerOptions{})
	tests := []struct {
		method, path string
		status       int
		code         string
	}{
		{"GET", "/v2/audiences", 404, "not_found"},
		{"GET", "/v1/nothing", 404, "not_found"},
		{"DELETE", "/v1/audiences", 405, "method_not_allowed"},
		{"PUT", "/v1/audiences/1000000001", 405, "method_not_allowed"},
		{"GET", "/v1/audiences/1000000001/members:batchUpdate", 405, "method_not_allowed"},
	}
	for _, tt := range tests {
		status, _, body := rawCall(t, tt.method, url+tt.path, keyOne, "")
		if status != tt.status || errorCode(t, body) != tt.code {
			t.Errorf("%s %s = %d %s, want %d %s", tt.method, tt.path, status, body,
				tt.status, tt.code)
		}
	}
}

func TestCreateAudience(t *testing.T) {
	_, url := startServer(t, pangolin.ServerOptions{})
	c := newClient(url, keyOne)
	ctx := testContext(t)

	before := time.Now().Add(-time.Second)
	a, created, err := c.CreateAudience(ctx, "Test audience", "a5940e473cea659.3566")
	if err != nil || !created {
		t.Fatalf("CreateAudience() = %v, %v, want created", created, err)
	}
	if a.ID != "1000000001" || a.Name != "Test audience" || a.ExternalID != "a5940e473cea659.3566" ||
		a.Size != 0 || a.CreatedAt.Before(before) || a.CreatedAt.After(time.Now()) {
		t.Errorf("CreateAudience() = %+v", a)
	}

	again, created, err := c.CreateAudience(ctx, "Another name", "a5940e473cea659.3566")
	if err != nil || created || again != a {
		t.Errorf("CreateAudience(same external ID) = %+v, %v, %v; want %+v, false", again,
			created, err, a)
	}

	// Without an external ID every call creates; IDs are decimal and unique.
	seen := map[string]bool{a.ID: true}
	for range 3 {
		b, created, err := c.CreateAudience(ctx, "no reference", "")
		if _, perr := strconv.ParseUint(b.ID, 10, 64); err != nil || !created || seen[b.ID] ||
			perr != nil {
			t.Fatalf("CreateAudience(no external ID) = %+v, %v, %v", b, created, err)
		}
		seen[b.ID] = true
	}

	// The same external ID in another account is another audience.
	other, created, err := newClient(url, keyTwo).CreateAudience(ctx, "x", a.ExternalID)
	if err != nil || !created || other.ID == a.ID {
		t.Errorf("CreateAudience(other account) = %+v, %v, %v", other, created, err)
	}
}

func TestCreateAudienceRaw(t *testing.T) {
	t.Parallel()
	_, url := startServer(t, pangolin.ServerOptions{})
	tests := []struct {
		name, body string
		status     int
		code       string
	}{
		{"created", `{"name":"n","external_id":"e1"}`, 201, ""},
		{"existing", `{"name":"n2","external_id":"e1"}`, 200, ""},
		{"no external id", `{"name":"n"}`, 201, ""},
		{"malformed", `{"name":`, 400, "invalid_argument"},
		{"not an object", `[]`, 400, "invalid_argument"},
		{"missing name", `{"external_id":"e2"}`, 400, "invalid_argument"},
		{"unknown field", `{"name":"n","extrnal_id":"e"}`, 400, "invalid_argument"},
		{"two values", `{"name":"n"}{"name":"m"}`, 400, "invalid_argument"},
		{"long name", `{"name":"` + strings.Repeat("n", 1025) + `"}`, 400, "invalid_argument"},
		{"long external id", `{"name":"n","external_id":"` + strings.Repeat("e", 257) + `"}`,
			400, "invalid_argument"},
		{"body too large", `{"name":"` + strings.Repeat("n", 70<<10) + `"}`, 413, "too_large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, h, body := rawCall(t, "POST", url+"/v1/audiences", keyOne, tt.body)
			if status != tt.status {
				t.Fatalf("POST %s = %d %s, want %d", tt.body[:min(len(tt.body), 40)], status,
					body, tt.status)
			}
			if tt.code != "" {
				if got := errorCode(t, body); got != tt.code {
					t.Errorf("code = %q, want %q", got, tt.code)
				}
				return
			}
			var a pangolin.Audience
			if err := json.Unmarshal([]byte(body), &a); err != nil || a.ID == "" {
				t.Errorf("body %s: %v", body, err)
			}
			if ct := h.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			if !strings.Contains(body, `"created_at":"`) || !strings.Contains(body, `"size":0`) {
				t.Errorf("body %s lacks created_at or size", body)
			}
		})
	}
}

func TestGetAndListAudiences(t *testing.T) {
	_, url := startServer(t, pangolin.ServerOptions{})
	one, two := newClient(url, keyOne), newClient(url, keyTwo)
	ctx := testContext(t)

	if status, _, body := rawCall(t, "GET", url+"/v1/audiences", keyOne, ""); status != 200 ||
		strings.TrimSpace(body) != `{"audiences":[]}` {
		t.Errorf("GET /v1/audiences (none) = %d %s, want 200 {\"audiences\":[]}", status, body)
	}

	a := mustCreate(t, one, "A", "ext-a")
	b := mustCreate(t, one, "B", "ext-b")
	x := mustCreate(t, two, "X", "ext-a")
	mustUpdate(t, one, b.ID, []string{"u1", "u2"}, nil)
	b.Size = 2

	got, err := one.GetAudience(ctx, b.ID)
	if err != nil || got != b {
		t.Errorf("GetAudience(%s) = %+v, %v; want %+v", b.ID, got, err, b)
	}
	list, err := one.ListAudiences(ctx, "")
	if err != nil || !slices.Equal(list, []pangolin.Audience{a, b}) {
		t.Errorf("ListAudiences() = %+v, %v; want [a b]", list, err)
	}
	list, err = one.ListAudiences(ctx, "ext-b")
	if err != nil || !slices.Equal(list, []pangolin.Audience{b}) {
		t.Errorf("ListAudiences(ext-b) = %+v, %v; want [b]", list, err)
	}
	list, err = one.ListAudiences(ctx, "ext-none")
	if err != nil || list == nil || len(list) != 0 {
		t.Errorf("ListAudiences(ext-none) = %#v, %v; want empty", list, err)
	}

	// Each account sees only its own audiences.
	list, err = two.ListAudiences(ctx, "")
	if err != nil || !slices.Equal(list, []pangolin.Audience{x}) {
		t.Errorf("ListAudiences(account two) = %+v, %v; want [x]", list, err)
	}
	for _, id := range []string{a.ID, "999", "not-a-number"} {
		if _, err := two.GetAudience(ctx, id); !errors.Is(err, pangolin.ErrNotFound) {
			t.Errorf("GetAudience(%s) by another account = %v, want ErrNotFound", id, err)
		}
	}
	if _, err := two.UpdateMembers(ctx, a.ID, []string{"u"}, nil); !errors.Is(err,
		pangolin.ErrNotFound) {
		t.Errorf("UpdateMembers(other account's audience) = %v, want ErrNotFound", err)
	}
	if _, _, err := two.ListMembers(ctx, b.ID, 0, ""); !errors.Is(err, pangolin.ErrNotFound) {
		t.Errorf("ListMembers(other account's audience) = %v, want ErrNotFound", err)
	}
	if _, err := two.IsMember(ctx, b.ID, "u1"); !errors.Is(err, pangolin.ErrNotFound) {
		t.Errorf("IsMember(other account's audience) = %v, want ErrNotFound", err)
	}
}

func TestBatchUpdate(t *testing.T) {
	_, url := startServer(t, pangolin.ServerOptions{})
	c := newClient(url, keyOne)
	ctx := testContext(t)
	a := mustCreate(t, c, "A", "")

	steps := []struct {
		name        string
		add, remove []string
		want        pangolin.UpdateResult
	}{
		{"add", []string{"u1", "u2", "u3"}, nil, pangolin.UpdateResult{3, 0, 3}},
		{"add again", []string{"u1", "u2", "u3"}, nil, pangolin.UpdateResult{0, 0, 3}},
		{"duplicates in one call", []string{"u4", "u4"}, nil, pangolin.UpdateResult{1, 0, 4}},
		{"remove", nil, []string{"u1", "nobody"}, pangolin.UpdateResult{0, 1, 3}},
		{"remove again", nil, []string{"u1"}, pangolin.UpdateResult{0, 0, 3}},
		{"both", []string{"u1", "u5"}, []string{"u2", "u3"}, pangolin.UpdateResult{2, 2, 3}},
		{"nothing", nil, nil, pangolin.UpdateResult{0, 0, 3}},
	}
	for _, s := range steps {
		got, err := c.UpdateMembers(ctx, a.ID, s.add, s.remove)
		if err != nil || got != s.want {
			t.Errorf("%s: UpdateMembers() = %+v, %v; want %+v", s.name, got, err, s.want)
		}
	}
	all, err := c.AllMembers(ctx, a.ID)
	if want := []string{"u1", "u4", "u5"}; err != nil || !slices.Equal(all, want) {
		t.Errorf("AllMembers() = %v, %v; want %v", all, err, want)
	}
}

func TestBatchUpdateRaw(t *testing.T) {
	t.Parallel()
	_, url := startServer(t, pangolin.ServerOptions{})
	a := mustCreate(t, newClient(url, keyOne), "A", "")
	path := url + "/v1/audiences/" + a.ID + "/members:batchUpdate"

	body := func(add, remove []string) string {
		b, _ := json.Marshal(map[string][]string{"add": add, "remove": remove})
		return string(b)
	}
	long := strings.Repeat("x", 256)
	tests := []struct {
		name, path, body string
		status           int
		code             string
	}{
		{"ok", path, body([]string{"u1"}, nil), 200, ""},
		{"256 bytes", path, body([]string{long}, nil), 200, ""},
		{"10000 together", path, body(ids("a", 0, 6000), ids("r", 0, 4000)), 200, ""},
		{"10001 together", path, body(ids("a", 0, 6000), ids("r", 0, 4001)), 413, "too_large"},
		{"in both", path, body([]string{"u1", "u2"}, []string{"u2"}), 400, "invalid_argument"},
		{"empty id", path, body([]string{""}, nil), 400, "invalid_argument"},
		{"257 bytes", path, body(nil, []string{long + "x"}), 400, "invalid_argument"},
		{"malformed", path, `{"add":[1]}`, 400, "invalid_argument"},
		{"unknown field", path, `{"adds":["u"]}`, 400, "invalid_argument"},
		{"no such audience", url + "/v1/audiences/42/members:batchUpdate",
			body([]string{"u"}, nil), 404, "not_found"},
		{"body too large", path, `{"add":["` + strings.Repeat("y", 9<<20) + `"]}`, 413,
			"too_large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, got := rawCall(t, "POST", tt.path, keyOne, tt.body)
			if status != tt.status {
				t.Fatalf("batchUpdate = %d %.200s, want %d", status, got, tt.status)
			}
			if tt.code != "" && errorCode(t, got) != tt.code {
				t.Errorf("batchUpdate body = %s, want code %s", got, tt.code)
			}
		})
	}
}

func TestListMembersPaging(t *testing.T) {
	_, url := startServer(t, pangolin.ServerOptions{})
	c := newClient(url, keyOne)
	ctx := testContext(t)
	a := mustCreate(t, c, "A", "")

	// 10,001 members whose byte order differs from other orders.
	members := append(ids("m", 0, 9994), "Zed", "a/b", "é", "\u00a0", "a b", "%", "~")
	mustUpdate(t, c, a.ID, members, nil)
	want := slices.Clone(members)
	slices.Sort(want)

	tests := []struct {
		name     string
		pageSize int
		pages    int
	}{
		{"default 1000", 0, 11},
		{"small", 4000, 3},
		{"capped at 10000", 20000, 2},
		{"odd size", 999, 11},
		{"all but one", 10000, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			token, pages := "", 0
			for {
				page, next, err := c.ListMembers(ctx, a.ID, tt.pageSize, token)
				if err != nil {
					t.Fatalf("ListMembers(page %d) = %v", pages+1, err)
				}
				pages++
				got = append(got, page...)
				if next == "" {
					break
				}
				token = next
			}
			if pages != tt.pages || !slices.Equal(got, want) {
				t.Errorf("paged %d pages, %d members; want %d pages, %d in byte order",
					pages, len(got), tt.pages, len(want))
			}
		})
	}
}

func TestListMembersRaw(t *testing.T) {
	_, url := startServer(t, pangolin.ServerOptions{})
	c := newClient(url, keyOne)
	empty := mustCreate(t, c, "empty", "")
	a := mustCreate(t, c, "A", "")
	mustUpdate(t, c, a.ID, []string{"b", "a", "c"}, nil)
	base := url + "/v1/audiences/"

	tests := []struct {
		name, path string
		status     int
		want       string // body, or error code
	}{
		{"empty", base + empty.ID + "/members", 200, `{"user_ids":[],"next_page_token":""}`},
		{"all", base + a.ID + "/members", 200, `{"user_ids":["a","b","c"],"next_page_token":""}`},
		{"page", base + a.ID + "/members?page_size=2", 200,
			`{"user_ids":["a","b"],"next_page_token":"Yg"}`},
		{"next", base + a.ID + "/members?page_size=2&page_token=Yg", 200,
			`{"user_ids":["c"],"next_page_token":""}`},
		{"bad size", base + a.ID + "/members?page_size=ten", 400, "invalid_argument"},
		{"negative size", base + a.ID + "/members?page_size=-1", 400, "invalid_argument"},
		{"bad token", base + a.ID + "/members?page_token=!!", 400, "invalid_argument"},
		{"no audience", base + "1/members", 404, "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := rawCall(t, "GET", tt.path, keyOne, "")
			if status != tt.status {
				t.Fatalf("GET = %d %s, want %d", status, body, tt.status)
			}
			if status == 200 && strings.TrimSpace(body) != tt.want {
				t.Errorf("GET = %s, want %s", body, tt.want)
			}
			if status != 200 && errorCode(t, body) != tt.want {
				t.Errorf("GET = %s, want code %s", body, tt.want)
			}
		})
	}
}

func TestIsMember(t *testing.T) {
	_, url := startServer(t, pangolin.ServerOptions{})
	c := newClient(url, keyOne)
	ctx := testContext(t)
	a := mustCreate(t, c, "A", "")
	odd := []string{"plain", "with/slash", ".", "..", "50% off", "a?b#c", "ünï", "+x"}
	mustUpdate(t, c, a.ID, odd, nil)

	for _, id := range odd {
		if ok, err := c.IsMember(ctx, a.ID, id); err != nil || !ok {
			t.Errorf("IsMember(%q) = %v, %v; want true", id, ok, err)
		}
	}
	if ok, err := c.IsMember(ctx, a.ID, "absent"); err != nil || ok {
		t.Errorf("IsMember(absent) = %v, %v; want false, nil", ok, err)
	}
	if _, err := c.IsMember(ctx, "12345", "plain"); !errors.Is(err, pangolin.ErrNotFound) {
		t.Errorf("IsMember(no audience) = %v, want ErrNotFound", err)
	}

	status, _, body := rawCall(t, "GET", url+"/v1/audiences/"+a.ID+"/members/plain", keyOne, "")
	if status != 200 || strings.TrimSpace(body) != `{"user_id":"plain"}` {
		t.Errorf("GET member = %d %s", status, body)
	}
	status, _, body = rawCall(t, "GET", url+"/v1/audiences/"+a.ID+"/members/absent", keyOne, "")
	if status != 404 || errorCode(t, body) != "not_found" {
		t.Errorf("GET non-member = %d %s, want 404 not_found", status, body)
	}
}

func TestFaultsRaw(t *testing.T) {
	t.Parallel()
	srv, url := startServer(t, pangolin.ServerOptions{})
	path := url + "/v1/audiences"

	srv.SetFaults(pangolin.Faults{RateLimit: 0.5, Burst: 2})
	for i := range 2 {
		if status, _, body := rawCall(t, "GET", path, keyOne, ""); status != 200 {
			t.Fatalf("call %d within burst = %d %s", i, status, body)
		}
	}
	status, h, body := rawCall(t, "GET", path, keyOne, "")
	secs, err := strconv.Atoi(h.Get("Retry-After"))
	if status != 429 || errorCode(t, body) != "rate_limited" || err != nil || secs < 1 || secs > 2 {
		t.Errorf("over the rate = %d Retry-After %q %s; want 429 with 1..2 s", status,
			h.Get("Retry-After"), body)
	}
	// Limits are per key.
	if status, _, _ := rawCall(t, "GET", path, keyTwo, ""); status != 200 {
		t.Errorf("other key = %d, want 200", status)
	}

	srv.SetFaults(pangolin.Faults{FailureRate: 1})
	status, _, body = rawCall(t, "GET", path, keyOne, "")
	if status != 503 || errorCode(t, body) != "unavailable" {
		t.Errorf("with FailureRate 1 = %d %s, want 503 unavailable", status, body)
	}
	if status, _, _ := rawCall(t, "GET", url+"/healthz", "", ""); status != 200 {
		t.Errorf("healthz with faults = %d, want 200", status)
	}

	srv.SetFaults(pangolin.Faults{Latency: 150 * time.Millisecond})
	start := time.Now()
	status, _, _ = rawCall(t, "GET", path, keyOne, "")
	if took := time.Since(start); status != 200 || took < 150*time.Millisecond {
		t.Errorf("with Latency 150ms = %d after %v", status, took)
	}

	srv.SetFaults(pangolin.Faults{})
	for range 20 {
		if status, _, _ := rawCall(t, "GET", path, keyOne, ""); status != 200 {
			t.Fatalf("without faults = %d, want 200", status)
		}
	}
}

func TestNewServerRejects(t *testing.T) {
	tests := []struct {
		name string
		opts pangolin.ServerOptions
	}{
		{"no keys", pangolin.ServerOptions{}},
		{"empty key", pangolin.ServerOptions{APIKeys: []string{""}}},
		{"negative rate", pangolin.ServerOptions{APIKeys: []string{"k"},
			Faults: pangolin.Faults{RateLimit: -1}}},
		{"failure rate above 1", pangolin.ServerOptions{APIKeys: []string{"k"},
			Faults: pangolin.Faults{FailureRate: 1.5}}},
		{"negative latency", pangolin.ServerOptions{APIKeys: []string{"k"},
			Faults: pangolin.Faults{Latency: -time.Second}}},
	}
	for _, tt := range tests {
		if srv, err := pangolin.NewServer(tt.opts); err == nil {
			srv.Close()
			t.Errorf("%s: NewServer() = nil error", tt.name)
		}
	}
}
