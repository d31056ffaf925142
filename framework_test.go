package diy

import (
	"context"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/GoogleCloudPlatform/functions-framework-go/funcframework"

	"github.com/dmp-diy/diy/hmac"
)

// TestFunctionsFramework runs both functions as Cloud Functions runs them:
// registered in init, configured from the environment, served by the
// Functions Framework. forward gets the raw body of a Pub/Sub push request
// and then the messagePublished CloudEvent an Eventarc trigger would send.
// It is the only test that uses the instance's global configuration.
func TestFunctionsFramework(t *testing.T) {
	e := newTestEnv(t) // for the Pub/Sub fake, its topology and Pangolin
	for k, v := range map[string]string{
		"GOOGLE_CLOUD_PROJECT": testProject, "DIY_HMAC_SECRET": testSecret,
		"DIY_DATA_DIR": t.TempDir(), "PANGOLIN_URL": e.panURL, "PANGOLIN_API_KEY": testKey,
		"FUNCTION_TARGET": "",
	} {
		t.Setenv(k, v)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	host, port, _ := net.SplitHostPort(addr)
	go funcframework.StartHostPort(host, port) // lives as long as the test binary
	eventually(t, 10*time.Second, "the Functions Framework listens", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	base := "http://" + addr

	signed := func(typ, body string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, base+"/diy?type="+typ, strings.NewReader(body))
		req.Header.Set("X-HMAC", hmac.Sign([]byte(testSecret), []byte(body)))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("POST /diy: %v", err)
		}
		res.Body.Close()
		return res
	}
	if res := signed("CREATE_AUDIENCE", createBody(11, "via-framework", "F")); res.StatusCode != 200 {
		t.Fatalf("CREATE through the framework = %d", res.StatusCode)
	}
	add := mutationsBody("ADD_TO_AUDIENCE", mutation(11, "via-framework", "fw-user"))
	if res := signed("ADD_TO_AUDIENCE", add); res.StatusCode != 200 {
		t.Fatalf("ADD through the framework = %d", res.StatusCode)
	}
	msgs := e.queued()
	if len(msgs) != 1 {
		t.Fatalf("queued %d messages, want 1", len(msgs))
	}
	m := msgs[0]

	// Serving both functions, the framework matches /forward exactly; on
	// Google Cloud, forward alone is served at every path.
	url := base + "/forward"
	res, err := http.Post(url, "application/json", strings.NewReader(pushBody(t, m, 1)))
	if err != nil {
		t.Fatalf("push to /forward: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("push to /forward = %d, want 200", res.StatusCode)
	}
	auds := e.pangolinAudiences("via-framework")
	if len(auds) != 1 {
		t.Fatalf("Pangolin holds %d audiences for via-framework, want 1", len(auds))
	}
	if got := e.members(auds[0].ID); !slices.Equal(got, []string{"fw-user"}) {
		t.Errorf("members after the push = %v, want [fw-user]", got)
	}

	remove := mutationsBody("REMOVE_FROM_AUDIENCE", mutation(11, "via-framework", "fw-user"))
	if res := signed("REMOVE_FROM_AUDIENCE", remove); res.StatusCode != 200 {
		t.Fatalf("REMOVE through the framework = %d", res.StatusCode)
	}
	m = e.queued()[1]
	status, body, err := postCloudEvent(context.Background(), url, e.topo, m)
	if err != nil || status != http.StatusOK {
		t.Fatalf("CloudEvent to /forward = %d %s %v, want 200", status, body, err)
	}
	if got := e.members(auds[0].ID); len(got) != 0 {
		t.Errorf("members after the CloudEvent = %v, want none", got)
	}
}
