package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/dmp-diy/diy/hmac"
)

// fakeEndpoint is a DIY endpoint in memory. It checks signatures and Basic
// Auth, applies mutations to its own state in the order requests arrive,
// notices two requests about one audience in flight together, and fails
// as its fail function says. Safe for concurrent use.
type fakeEndpoint struct {
	secret   string
	user     string // Basic Auth required when set
	password string
	returnID bool
	// fail decides the n-th mutation request's answer (from 1): 0 applies it
	// and answers 200; 503 before applying fails it cleanly; -503 applies
	// it and then answers 503, as when an answer is lost.
	fail func(n int) int

	mu       sync.Mutex
	n        int
	state    map[string]map[string]bool // audience as called -> users
	inFlight map[string]int
	overlaps int
	created  map[string]string // the DMP's audience ID -> the ID returned
}

func newFakeEndpoint(t *testing.T, f *fakeEndpoint) (*fakeEndpoint, string) {
	t.Helper()
	f.state, f.inFlight, f.created = map[string]map[string]bool{}, map[string]int{},
		map[string]string{}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv.URL + "/"
}

func (f *fakeEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet {
		return
	}
	body, _ := io.ReadAll(r.Body)
	user, pass, _ := r.BasicAuth()
	if r.Header.Get("X-HMAC") != hmac.Sign([]byte(f.secret), body) ||
		(f.user != "" && (user != f.user || pass != f.password)) {
		http.Error(w, `{"error":"bad signature or credentials"}`, http.StatusUnauthorized)
		return
	}
	var call struct {
		Type      string
		Audience  string
		Mutations []wireMutation
	}
	if len(body) > 0 && json.Unmarshal(body, &call) != nil {
		http.Error(w, `{"error":"malformed"}`, http.StatusBadRequest)
		return
	}
	switch call.Type {
	case callCreate:
		f.create(w, call.Audience)
	case callAdd, callRemove:
		f.mutate(w, call.Type, call.Mutations)
	}
}

func (f *fakeEndpoint) create(w http.ResponseWriter, audience string) {
	f.mu.Lock()
	id := fmt.Sprintf("p%d", len(f.created)+1)
	f.created[audience] = id
	f.mu.Unlock()
	if f.returnID {
		fmt.Fprintf(w, `{"id":%q}`, id)
	}
}

func (f *fakeEndpoint) mutate(w http.ResponseWriter, typ string, muts []wireMutation) {
	auds := map[string]bool{}
	for _, m := range muts {
		auds[m.Audience] = true
	}
	f.mu.Lock()
	f.n++
	n := f.n
	for a := range auds {
		if f.inFlight[a]++; f.inFlight[a] > 1 {
			f.overlaps++
		}
	}
	f.mu.Unlock()
	time.Sleep(200 * time.Microsecond) // lets overlapping requests meet

	f.mu.Lock()
	defer f.mu.Unlock()
	for a := range auds {
		f.inFlight[a]--
	}
	answer := 0
	if f.fail != nil {
		answer = f.fail(n)
	}
	if answer > 0 {
		http.Error(w, `{"error":"scripted failure"}`, answer)
		return
	}
	for _, m := range muts {
		if f.state[m.Audience] == nil {
			f.state[m.Audience] = map[string]bool{}
		}
		if typ == callAdd {
			f.state[m.Audience][m.ExternalUserID] = true
		} else {
			delete(f.state[m.Audience], m.ExternalUserID)
		}
	}
	if answer < 0 {
		http.Error(w, `{"error":"answer lost"}`, -answer)
		return
	}
	fmt.Fprintf(w, `{"queued":%d,"skipped":0}`, len(muts))
}

// members returns the fake's members of an audience, as called.
func (f *fakeEndpoint) members(audience string) map[string]bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]bool{}
	for u := range f.state[audience] {
		out[u] = true
	}
	return out
}

// counts returns the mutation requests received and the overlaps seen.
func (f *fakeEndpoint) counts() (requests, overlaps int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n, f.overlaps
}

// createdID is the ID the fake returned for a DMP audience ID; "" if none.
func (f *fakeEndpoint) createdID(dmpID string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.created[dmpID]
}
