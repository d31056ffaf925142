package main

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/dmp-diy/diy/pangolin"
)

// fakeConfig is a small load run against a fake endpoint, without verify.
func fakeConfig(url string) Config {
	c := DefaultConfig()
	c.URL, c.Secret, c.Verify, c.NoProgress = url, "s", false, true
	c.Audiences, c.Users, c.Mutations = 4, 100, 600
	return c
}

func TestLoadUsesReturnedIDsAndBasicAuth(t *testing.T) {
	fake, url := newFakeEndpoint(t, &fakeEndpoint{secret: "s", user: "dmp", password: "pw",
		returnID: true})
	cfg := fakeConfig(url)
	cfg.BasicUser, cfg.BasicPassword = "dmp", "pw"

	out, err := runSim(t, cfg)
	if err != nil || lastLine(out) != "PASS" {
		t.Fatalf("run() = %v; output:\n%s", err, out)
	}
	if !strings.Contains(out, "verify: off") {
		t.Errorf("report does not say verify was off:\n%s", out)
	}
	for _, a := range NewUniverse(cfg.Seed, cfg.Customers, cfg.Audiences, cfg.Users).Audiences {
		id := fake.createdID(a.DMPID)
		if id == "" {
			t.Errorf("audience %s was not created", a.DMPID)
			continue
		}
		if len(fake.members(id)) == 0 {
			t.Errorf("no mutation used the returned ID %s of audience %s", id, a.DMPID)
		}
		if len(fake.members(a.DMPID)) > 0 {
			t.Errorf("mutations used the DMP's ID %s although the endpoint returned one", a.DMPID)
		}
	}
}

func TestLoadFails(t *testing.T) {
	tests := []struct {
		name string
		fake *fakeEndpoint
		want string // in the FAIL line
	}{
		{"mutation answered 400", &fakeEndpoint{secret: "s",
			fail: func(int) int { return 400 }}, "answered 400: scripted failure"},
		{"wrong secret", &fakeEndpoint{secret: "other"}, "VALIDATE answered 401"},
		{"missing Basic Auth", &fakeEndpoint{secret: "s", user: "dmp", password: "pw"},
			"VALIDATE answered 401"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, url := newFakeEndpoint(t, tt.fake)
			out, err := runSim(t, fakeConfig(url))
			if err == nil {
				t.Fatalf("run() = nil, want a failure; output:\n%s", out)
			}
			if last := lastLine(out); !strings.HasPrefix(last, "FAIL: ") ||
				!strings.Contains(last, tt.want) {
				t.Errorf("last line = %q, want FAIL naming %q", last, tt.want)
			}
		})
	}
}

func TestVerifyFindsDifferences(t *testing.T) {
	// The fake endpoint accepts everything but forwards nothing: Pangolin
	// never gets the audiences, so verify must report every one.
	_, url := newFakeEndpoint(t, &fakeEndpoint{secret: "s"})
	pan, err := pangolin.NewServer(pangolin.ServerOptions{APIKeys: []string{"k"}})
	if err != nil {
		t.Fatalf("pangolin.NewServer() = %v", err)
	}
	panSrv := httptest.NewServer(pan)
	t.Cleanup(panSrv.Close)
	cfg := fakeConfig(url)
	cfg.Verify, cfg.PangolinURL, cfg.PangolinKey = true, panSrv.URL, "k"
	cfg.Settle, cfg.PollInterval = 0, 0

	out, err := runSim(t, cfg)
	if err == nil || !strings.Contains(lastLine(out), "4 of 4 audiences differ") {
		t.Fatalf("run() = %v, last line %q; want 4 audiences differing; output:\n%s", err,
			lastLine(out), out)
	}
	if !strings.Contains(out, "(not found)") || !strings.Contains(out, "missing, e.g. ") {
		t.Errorf("report does not show the missing audiences and members:\n%s", out)
	}
}

func TestOutputHidesSecrets(t *testing.T) {
	const secret, password, key = "hmac-secret-x1", "basic-pass-x2", "pangolin-key-x3"
	_, url := newFakeEndpoint(t, &fakeEndpoint{secret: secret, user: "dmp", password: password})
	pan, err := pangolin.NewServer(pangolin.ServerOptions{APIKeys: []string{"another-key"}})
	if err != nil {
		t.Fatalf("pangolin.NewServer() = %v", err)
	}
	panSrv := httptest.NewServer(pan)
	t.Cleanup(panSrv.Close)

	for _, conformance := range []bool{false, true} {
		cfg := fakeConfig(url)
		cfg.Secret, cfg.BasicUser, cfg.BasicPassword = secret, "dmp", password
		cfg.Verify, cfg.PangolinURL, cfg.PangolinKey = true, panSrv.URL, key // refused
		cfg.Conformance = conformance
		out, err := runSim(t, cfg)
		if err == nil {
			t.Errorf("run(conformance=%v) = nil, want a failure (Pangolin refuses the key, "+
				"the fake is not conformant)", conformance)
		}
		for _, s := range []string{secret, password, key} {
			if strings.Contains(out, s) {
				t.Errorf("run(conformance=%v) printed a secret:\n%s", conformance, out)
			}
		}
	}
}
