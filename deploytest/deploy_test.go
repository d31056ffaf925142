package deploytest

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const (
	project    = "test-proj"
	forwardURL = "https://diy-forward-xyz.a.run.app"
	diyURL     = "https://diy-xyz.a.run.app"
	runtimeSA  = "serviceAccount:diy-runtime@test-proj.iam.gserviceaccount.com"
	forwardSA  = "serviceAccount:diy-forward-runtime@test-proj.iam.gserviceaccount.com"
	pushSA     = "diy-push@test-proj.iam.gserviceaccount.com"
	pubsubSA   = "serviceAccount:service-123456789012@gcp-sa-pubsub.iam.gserviceaccount.com"
)

// vars are environment variables for a run of deploy.sh.
type vars = map[string]string

// creates reports whether a call creates something: a create verb or a
// version added to a secret.
func creates(c call) bool {
	for i := 0; i < len(c) && i < 4; i++ {
		if c[i] == "create" || (c[i] == "add" && i > 0 && c[i-1] == "versions") {
			return true
		}
	}
	return false
}

func TestFirstRunIssuesCommandsInOrder(t *testing.T) {
	t.Parallel()
	env := baseEnv()
	env["PANGOLIN_API_KEY_VALUE"] = "pangolin-key-for-tests"
	env["DIY_BASIC_AUTH_USER"] = "dmp-user"
	env["DIY_BASIC_AUTH_PASSWORD_VALUE"] = "basic-password-for-tests"
	r := deployOK(t, fake{mode: "empty"}, env)
	if !strings.Contains(r.stdout, diyURL) {
		t.Errorf("stdout does not show the URL of diy %s:\n%s", diyURL, r.stdout)
	}
	if !strings.Contains(r.stdout, "HMAC secret") {
		t.Errorf("stdout does not remind to share the HMAC secret:\n%s", r.stdout)
	}

	enable, apis := r.mustFind(t, "services", "enable")
	for _, api := range []string{"cloudfunctions", "run", "cloudbuild", "artifactregistry",
		"pubsub", "firestore", "secretmanager", "iam"} {
		if !slices.Contains(apis, api+".googleapis.com") {
			t.Errorf("%v does not enable %s.googleapis.com", apis, api)
		}
	}
	for i, c := range r.calls {
		if (creates(c) || call(c).is("functions", "deploy")) && i < enable {
			t.Errorf("%v comes before the APIs are enabled", call(c))
		}
	}

	// Each pair: the first call must come before the second.
	order := [][2][]string{
		{{"pubsub", "topics", "create", "diy-mutations"},
			{"pubsub", "subscriptions", "create", "diy-mutations-forward"}},
		{{"pubsub", "topics", "create", "diy-mutations-dead-letter"},
			{"pubsub", "subscriptions", "create", "diy-mutations-dead-letter-keep"}},
		{{"pubsub", "topics", "create", "diy-mutations-dead-letter"},
			{"pubsub", "subscriptions", "create", "diy-mutations-forward"}},
		{{"firestore", "databases", "create"}, {"functions", "deploy"}},
		{{"secrets", "create", "diy-hmac-secret"},
			{"secrets", "versions", "add", "diy-hmac-secret"}},
		{{"secrets", "create", "diy-hmac-secret"}, {"functions", "deploy"}},
		{{"secrets", "create", "diy-basic-auth-password"}, {"functions", "deploy"}},
		{{"secrets", "create", "pangolin-api-key"}, {"functions", "deploy"}},
		{{"secrets", "versions", "add", "diy-hmac-secret"}, {"functions", "deploy"}},
		{{"iam", "service-accounts", "create", "diy-runtime"}, {"functions", "deploy"}},
		{{"iam", "service-accounts", "create", "diy-runtime"},
			{"pubsub", "topics", "add-iam-policy-binding"}},
		{{"iam", "service-accounts", "create", "diy-forward-runtime"},
			{"functions", "deploy", "diy-forward"}},
		{{"iam", "service-accounts", "create", "diy-forward-runtime"},
			{"pubsub", "topics", "add-iam-policy-binding"}},
		{{"iam", "service-accounts", "create", "diy-push"},
			{"iam", "service-accounts", "add-iam-policy-binding"}},
		{{"projects", "describe", project}, {"pubsub", "topics", "add-iam-policy-binding"}},
		{{"functions", "deploy", "diy-forward"},
			{"functions", "add-invoker-policy-binding", "diy-forward"}},
		{{"functions", "deploy", "diy-forward"}, {"functions", "describe", "diy-forward"}},
		{{"functions", "describe", "diy-forward"},
			{"pubsub", "subscriptions", "create", "diy-mutations-forward"}},
		{{"pubsub", "subscriptions", "create", "diy-mutations-forward"},
			{"pubsub", "subscriptions", "add-iam-policy-binding", "diy-mutations-forward"}},
		{{"functions", "deploy", "diy"}, {"functions", "describe", "diy"}},
	}
	for _, pair := range order {
		before, _ := r.mustFind(t, pair[0]...)
		after, _ := r.mustFind(t, pair[1]...)
		if before > after {
			t.Errorf("gcloud %s comes after gcloud %s", strings.Join(pair[0], " "),
				strings.Join(pair[1], " "))
		}
	}

	for _, c := range r.calls {
		if v, ok := call(c).flag("project"); c[0] != "projects" && v != project {
			t.Errorf("%v: --project = %q, %v; want %q", call(c), v, ok, project)
		}
	}
	if n := len(r.calls); n > 0 && !call(r.calls[n-1]).is("functions", "describe", "diy") {
		t.Errorf("last call %v, want the URL of diy read after everything else", call(r.calls[n-1]))
	}
}

func TestHMACRotation(t *testing.T) {
	t.Parallel()
	env := baseEnv()
	env["DIY_HMAC_PREVIOUS_VERSION"] = "3"
	r := deployOK(t, fake{mode: "exists"}, env)
	_, diy := r.mustFind(t, "functions", "deploy", "diy")
	wantFlags(t, diy, map[string]string{"set-secrets": "DIY_HMAC_SECRET=diy-hmac-secret:latest," +
		"DIY_HMAC_SECRET_PREVIOUS=diy-hmac-secret:3"})
}

func TestFirstRunFlags(t *testing.T) {
	t.Parallel()
	env := baseEnv()
	env["DIY_BASIC_AUTH_USER"] = "dmp-user"
	env["DIY_BASIC_AUTH_PASSWORD_VALUE"] = "basic-password-for-tests"
	r := deployOK(t, fake{mode: "empty"}, env)

	_, sub := r.mustFind(t, "pubsub", "subscriptions", "create", "diy-mutations-forward")
	wantFlags(t, sub, map[string]string{
		"topic":                     "diy-mutations",
		"push-endpoint":             forwardURL,
		"push-auth-service-account": pushSA,
		"push-auth-token-audience":  forwardURL,
		"enable-message-ordering":   "",
		"ack-deadline":              "120",
		"min-retry-delay":           "10s",
		"max-retry-delay":           "600s",
		"dead-letter-topic":         "diy-mutations-dead-letter",
		"max-delivery-attempts":     "20",
		"expiration-period":         "never",
	})
	_, keep := r.mustFind(t, "pubsub", "subscriptions", "create", "diy-mutations-dead-letter-keep")
	wantFlags(t, keep, map[string]string{"topic": "diy-mutations-dead-letter",
		"message-retention-duration": "7d", "expiration-period": "never"})
	_, db := r.mustFind(t, "firestore", "databases", "create")
	wantFlags(t, db, map[string]string{"type": "firestore-native", "location": "europe-west1"})

	_, diy := r.mustFind(t, "functions", "deploy", "diy")
	wantFlags(t, diy, map[string]string{
		"gen2": "", "region": "europe-west1", "runtime": "go126", "source": ".",
		"entry-point": "diy", "trigger-http": "", "allow-unauthenticated": "",
		"service-account": "diy-runtime@test-proj.iam.gserviceaccount.com",
		"timeout":         "60s", "memory": "256Mi", "cpu": "1", "concurrency": "80",
		"min-instances": "1", "max-instances": "20",
		"set-env-vars": "GOOGLE_CLOUD_PROJECT=test-proj,DIY_TOPIC=diy-mutations," +
			"PANGOLIN_URL=https://pangolin.test,DIY_RETURN_PLATFORM_ID=true," +
			"DIY_PANGOLIN_KEY_SECRET=pangolin-api-key,DIY_BASIC_AUTH_USER=dmp-user",
		"set-secrets": "DIY_HMAC_SECRET=diy-hmac-secret:latest," +
			"DIY_BASIC_AUTH_PASSWORD=diy-basic-auth-password:latest",
	})
	_, fwd := r.mustFind(t, "functions", "deploy", "diy-forward")
	wantFlags(t, fwd, map[string]string{
		"gen2": "", "runtime": "go126", "entry-point": "forward", "trigger-http": "",
		"no-allow-unauthenticated": "", "timeout": "300s", "memory": "256Mi",
		"service-account": "diy-forward-runtime@test-proj.iam.gserviceaccount.com",
		"set-env-vars": "GOOGLE_CLOUD_PROJECT=test-proj," +
			"DIY_DEAD_LETTER_TOPIC=diy-mutations-dead-letter,PANGOLIN_URL=https://pangolin.test," +
			"DIY_PANGOLIN_KEY_SECRET=pangolin-api-key,DIY_UNMAPPED_GRACE=10m",
	})
	if _, ok := fwd.flag("set-secrets"); ok {
		t.Errorf("%v: diy-forward gets secrets through env vars; it reads keys itself", fwd)
	}
	if _, ok := fwd.flag("allow-unauthenticated"); ok {
		t.Errorf("%v: diy-forward must not be public", fwd)
	}
}

func wantFlags(t *testing.T, c call, want map[string]string) {
	t.Helper()
	for name, w := range want {
		if got, ok := c.flag(name); !ok || got != w {
			t.Errorf("%v:\n --%s = %q (present %v), want %q", c, name, got, ok, w)
		}
	}
}

// TestBindingsAreLeastPrivilege checks the whole set of IAM bindings: each
// identity gets only the roles it needs, on the narrowest resource.
func TestBindingsAreLeastPrivilege(t *testing.T) {
	t.Parallel()
	env := baseEnv()
	env["DIY_PANGOLIN_CUSTOMERS"] = "123"
	r := deployOK(t, fake{mode: "empty"}, env)
	var got []string
	for _, c := range r.calls {
		if b, ok := binding(c); ok {
			got = append(got, b)
		}
	}
	want := []string{
		"pubsub topics add-iam-policy-binding diy-mutations " + runtimeSA +
			" roles/pubsub.publisher",
		"projects add-iam-policy-binding test-proj " + runtimeSA + " roles/datastore.user",
		"secrets add-iam-policy-binding diy-hmac-secret " + runtimeSA +
			" roles/secretmanager.secretAccessor",
		// The Pangolin keys, pangolin-api-key-123 included: one conditional
		// grant on the project per function (keys_test.go checks its
		// condition).
		"projects add-iam-policy-binding test-proj " + runtimeSA +
			" roles/secretmanager.secretAccessor",
		// diy-forward: no HMAC secret, no publishing to diy's topic.
		"pubsub topics add-iam-policy-binding diy-mutations-dead-letter " + forwardSA +
			" roles/pubsub.publisher",
		"projects add-iam-policy-binding test-proj " + forwardSA + " roles/datastore.user",
		"projects add-iam-policy-binding test-proj " + forwardSA +
			" roles/secretmanager.secretAccessor",
		"pubsub topics add-iam-policy-binding diy-mutations-dead-letter " + pubsubSA +
			" roles/pubsub.publisher",
		"iam service-accounts add-iam-policy-binding " + pushSA + " " + pubsubSA +
			" roles/iam.serviceAccountTokenCreator",
		"functions add-invoker-policy-binding diy-forward serviceAccount:" + pushSA + " ",
		"pubsub subscriptions add-iam-policy-binding diy-mutations-forward " + pubsubSA +
			" roles/pubsub.subscriber",
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("bindings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, c := range r.calls {
		role, _ := call(c).flag("role")
		cond, _ := call(c).flag("condition")
		switch {
		case !call(c).is("projects", "add-iam-policy-binding"):
		case role == "roles/datastore.user" && cond != "None":
			t.Errorf("%v: want --condition=None: conditional bindings would make gcloud "+
				"prompt or fail", call(c))
		case role == "roles/secretmanager.secretAccessor" && !strings.HasPrefix(cond,
			"expression="):
			t.Errorf("%v: project-wide secret access without a condition", call(c))
		}
	}
	r.mustFind(t, "secrets", "create", "pangolin-api-key-123")
}

// binding describes an add-*-policy-binding call as "COMMAND... RESOURCE
// MEMBER ROLE"; ok is false for other calls.
func binding(c call) (string, bool) {
	for i, w := range c {
		if i+1 < len(c) && strings.HasPrefix(w, "add-") && strings.HasSuffix(w, "-policy-binding") {
			member, _ := c.flag("member")
			role, _ := c.flag("role")
			words := append(slices.Clone(c[:i+2]), member, role)
			return strings.Join(words, " "), true
		}
	}
	return "", false
}

func TestRuntimeFromGoMod(t *testing.T) {
	t.Parallel()
	realMod, err := os.ReadFile(filepath.Join("..", "go.mod"))
	if err != nil {
		t.Fatalf("read go.mod: %v", err)
	}
	m := regexp.MustCompile(`(?m)^go\s+(\d+)\.(\d+)`).FindSubmatch(realMod)
	if m == nil {
		t.Fatalf("go.mod has no go line:\n%s", realMod)
	}
	realRuntime := "go" + string(m[1]) + string(m[2])
	realScript, err := filepath.Abs(filepath.Join("..", "deploy.sh"))
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		script   string
		override string
		want     string
	}{
		{"this repository", realScript, "", realRuntime},
		{"patch version", repo(t, "module m\n\ngo 1.26.0\n"), "", "go126"},
		{"no patch version", repo(t, "module m\n\ngo 1.24\n"), "", "go124"},
		{"toolchain line", repo(t, "module m\n\ngo 1.25.3\n\ntoolchain go1.26.1\n"), "", "go125"},
		{"no final newline", repo(t, "module m\ngo 1.23.4"), "", "go123"},
		{"override", repo(t, sampleGoMod), "go125", "go125"},
		{"override without go.mod", repo(t, ""), "go125", "go125"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := baseEnv()
			if tt.override != "" {
				env["DIY_GO_RUNTIME"] = tt.override
			}
			r := runDeploy(t, tt.script, fake{}, env, "--dry-run")
			if r.exit != 0 {
				t.Fatalf("deploy.sh --dry-run exit = %d, want 0; stderr:\n%s", r.exit, r.stderr)
			}
			n := strings.Count(r.stdout, "--runtime="+tt.want+" ")
			if n != 2 {
				t.Errorf("--runtime=%s appears %d times, want 2 (one per function):\n%s",
					tt.want, n, r.stdout)
			}
		})
	}

	r := runDeploy(t, repo(t, ""), fake{}, baseEnv(), "--dry-run")
	if r.exit == 0 || !strings.Contains(r.stderr, "DIY_GO_RUNTIME") {
		t.Errorf("without go.mod: exit = %d, stderr %q; want a failure naming DIY_GO_RUNTIME",
			r.exit, r.stderr)
	}
}

func TestSecondRunCreatesNothing(t *testing.T) {
	t.Parallel()
	const stored = "stored-value"
	tests := []struct {
		name      string
		values    vars
		wantAdded []string // secrets that get a new version
	}{
		{"no values given", vars{"DIY_HMAC_SECRET_VALUE": ""}, nil},
		{"same values given", vars{"DIY_HMAC_SECRET_VALUE": stored,
			"PANGOLIN_API_KEY_VALUE": stored}, nil},
		{"new HMAC value", vars{"DIY_HMAC_SECRET_VALUE": "rotated-value",
			"PANGOLIN_API_KEY_VALUE": stored}, []string{"diy-hmac-secret"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := baseEnv()
			for k, v := range tt.values {
				env[k] = v
			}
			r := deployOK(t, fake{mode: "exists", secretValue: stored}, env)
			var added []string
			for _, c := range r.calls {
				switch {
				case call(c).is("secrets", "versions", "add"):
					added = append(added, c[3])
				case creates(c):
					t.Errorf("second run issues %v", call(c))
				}
			}
			if !slices.Equal(added, tt.wantAdded) {
				t.Errorf("versions added to %v, want %v", added, tt.wantAdded)
			}
			for name, want := range r.stdin {
				if want != tt.values["DIY_HMAC_SECRET_VALUE"] || name != "diy-hmac-secret" {
					t.Errorf("stdin of secret %s = %q, want the new HMAC value", name, want)
				}
			}

			_, upd := r.mustFind(t, "pubsub", "subscriptions", "update", "diy-mutations-forward")
			wantFlags(t, upd, map[string]string{
				"push-endpoint":         forwardURL,
				"dead-letter-topic":     "diy-mutations-dead-letter",
				"max-delivery-attempts": "20", "min-retry-delay": "10s", "max-retry-delay": "600s",
			})
			r.mustFind(t, "functions", "deploy", "diy-forward")
			r.mustFind(t, "functions", "deploy", "diy")
		})
	}
}

func TestFailingCommandStops(t *testing.T) {
	t.Parallel()
	tests := []struct {
		fail     string
		attempts int // how often the failing call is made
	}{
		{"services enable", 1},
		{"projects describe", 1},
		{"pubsub topics create diy-mutations-dead-letter", 1},
		{"firestore databases create", 1},
		{"secrets versions add diy-hmac-secret", 1},
		{"iam service-accounts create diy-push", 1},
		{"projects add-iam-policy-binding", 3},
		{"add-iam-policy-binding test-proj --member=" + runtimeSA +
			" --role=roles/secretmanager.secretAccessor", 3},
		{"functions deploy diy-forward", 1},
		{"pubsub subscriptions create diy-mutations-forward", 1},
		{"functions deploy diy ", 1},
	}
	for _, tt := range tests {
		t.Run(tt.fail, func(t *testing.T) {
			t.Parallel()
			env := baseEnv()
			env["DIY_IAM_ATTEMPTS"] = "3"
			r := runDeploy(t, repo(t, sampleGoMod), fake{mode: "empty", fail: tt.fail}, env)
			if r.exit == 0 {
				t.Fatalf("deploy.sh exit = 0, want non-zero; calls:\n%s", r.callList())
			}
			wantMsg := regexp.MustCompile(`deploy\.sh: step "[^"]+" failed \(exit 1\): gcloud .*` +
				regexp.QuoteMeta(strings.TrimSpace(tt.fail)))
			if !wantMsg.MatchString(r.stderr) {
				t.Errorf("stderr does not name the failed step and command:\n%s", r.stderr)
			}
			matching := 0
			for _, c := range r.calls {
				if strings.Contains(" "+strings.Join(c, " ")+" ", tt.fail) {
					matching++
				}
			}
			last := " " + strings.Join(r.calls[len(r.calls)-1], " ") + " "
			if matching != tt.attempts || !strings.Contains(last, tt.fail) {
				t.Errorf("failing call made %d times, want %d, and last; calls:\n%s",
					matching, tt.attempts, r.callList())
			}
		})
	}
}

func TestStopsWithClearMessage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		fake    fake
		env     vars
		want    string // in stderr
		noCalls bool   // stops before calling gcloud at all
	}{
		{"no HMAC secret version", fake{mode: "empty"}, vars{"DIY_HMAC_SECRET_VALUE": ""},
			`secret "diy-hmac-secret" has no enabled version`, false},
		{"no Basic Auth password", fake{mode: "empty"}, vars{"DIY_BASIC_AUTH_USER": "u"},
			`secret "diy-basic-auth-password" has no enabled version`, false},
		{"subscription without ordering", fake{mode: "exists", noOrdering: true}, nil,
			"without message ordering", false},
		{"subscription on another topic", fake{mode: "exists", subTopic: "other"}, nil,
			`exists on topic "projects/test-proj/topics/other"`, false},
		{"Firestore in Datastore mode", fake{mode: "exists", firestore: "DATASTORE_MODE"}, nil,
			"native mode", false},
		{"no project", fake{}, vars{"DIY_PROJECT": ""}, "no project", false},
		{"no Pangolin URL", fake{}, vars{"PANGOLIN_URL": ""}, "PANGOLIN_URL is required",
			true},
		{"bad number", fake{}, vars{"DIY_MIN_INSTANCES": "one"},
			"DIY_MIN_INSTANCES must be a whole number", true},
		{"bad previous HMAC version", fake{}, vars{"DIY_HMAC_PREVIOUS_VERSION": "latest"},
			"DIY_HMAC_PREVIOUS_VERSION must be a whole number", true},
		{"too many delivery attempts", fake{}, vars{"DIY_MAX_DELIVERY_ATTEMPTS": "101"},
			"between 5 and 100", true},
		{"ack deadline too long", fake{}, vars{"DIY_ACK_DEADLINE": "601"},
			"between 10 and 600", true},
		{"comma in env value", fake{}, vars{"PANGOLIN_URL": "https://a,b"},
			"PANGOLIN_URL must not contain a comma", true},
		{"quote in key secret", fake{}, vars{"DIY_PANGOLIN_KEY_SECRET": `key")||true||("`},
			"DIY_PANGOLIN_KEY_SECRET must be a secret ID", true},
		{"comma in key secret", fake{}, vars{"DIY_PANGOLIN_KEY_SECRET": "key,title=x"},
			"DIY_PANGOLIN_KEY_SECRET must be a secret ID", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := baseEnv()
			for k, v := range tt.env {
				env[k] = v
			}
			r := runDeploy(t, repo(t, sampleGoMod), tt.fake, env)
			if r.exit == 0 {
				t.Fatalf("deploy.sh exit = 0, want non-zero; calls:\n%s", r.callList())
			}
			if !strings.Contains(r.stderr, tt.want) {
				t.Errorf("stderr does not contain %q:\n%s", tt.want, r.stderr)
			}
			if tt.noCalls && len(r.calls) > 0 {
				t.Errorf("gcloud called before the settings were checked:\n%s", r.callList())
			}
			if i := r.find("functions", "deploy", "diy"); i >= 0 {
				t.Errorf("diy deployed although the script stopped:\n%s", r.callList())
			}
		})
	}
}

func TestSecretValuesStayHidden(t *testing.T) {
	t.Parallel()
	values := vars{
		"DIY_HMAC_SECRET_VALUE":         "hmac-Zq9'distinct$value",
		"DIY_BASIC_AUTH_PASSWORD_VALUE": "basic-Xk7-distinct value",
		"PANGOLIN_API_KEY_VALUE":        "pangolin-Wv3-distinct\nvalue",
	}
	secretOf := map[string]string{
		"DIY_HMAC_SECRET_VALUE":         "diy-hmac-secret",
		"DIY_BASIC_AUTH_PASSWORD_VALUE": "diy-basic-auth-password",
		"PANGOLIN_API_KEY_VALUE":        "pangolin-api-key",
	}
	tests := []struct {
		name string
		fake fake
		args []string
	}{
		{"first run", fake{mode: "empty"}, nil},
		{"rotation", fake{mode: "exists", secretValue: "old"}, nil},
		{"failed add", fake{mode: "empty", fail: "versions add pangolin-api-key"}, nil},
		{"dry run", fake{}, []string{"--dry-run"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := baseEnv()
			env["DIY_BASIC_AUTH_USER"] = "dmp-user"
			for k, v := range values {
				env[k] = v
			}
			r := runDeploy(t, repo(t, sampleGoMod), tt.fake, env, tt.args...)
			calls := r.callList()
			for name, v := range values {
				for where, text := range map[string]string{"stdout": r.stdout,
					"stderr": r.stderr, "gcloud arguments": calls,
					"gcloud environment": r.gcloudEnv} {
					if strings.Contains(text, v) {
						t.Errorf("value of %s appears in %s", name, where)
					}
				}
				if tt.fake.fail != "" || tt.args != nil {
					continue
				}
				if got := r.stdin[secretOf[name]]; got != v {
					t.Errorf("stdin of versions add %s = %q, want the value of %s",
						secretOf[name], got, name)
				}
			}
			placeholder := "<value from DIY_HMAC_SECRET_VALUE> | gcloud secrets versions add "
			if tt.args != nil && !strings.Contains(r.stdout, placeholder+"diy-hmac-secret") {
				t.Errorf("dry run does not show the placeholder for the HMAC value:\n%s", r.stdout)
			}
		})
	}
}

func TestDryRun(t *testing.T) {
	t.Parallel()
	t.Run("plan", func(t *testing.T) {
		t.Parallel()
		env := baseEnv()
		env["DIY_PROJECT"] = "acme-dmp"
		r := runDeploy(t, repo(t, sampleGoMod), fake{}, env, "--dry-run")
		if r.exit != 0 || len(r.calls) > 0 {
			t.Fatalf("exit = %d, gcloud calls:\n%s\nwant 0 and none; stderr:\n%s",
				r.exit, r.callList(), r.stderr)
		}
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		for _, l := range lines {
			if !strings.HasPrefix(l, "gcloud ") && !strings.HasPrefix(l, "<value from ") {
				t.Errorf("plan line is not a command: %q", l)
			}
		}
		for _, want := range []string{
			"gcloud services enable cloudfunctions.googleapis.com",
			"--push-endpoint='<diy-forward URL>'",
			"gcloud functions deploy diy-forward --gen2",
			"gcloud functions deploy diy --gen2",
			"--format='value(serviceConfig.uri)'",
			"--role=roles/secretmanager.secretAccessor --condition='expression=resource.name" +
				` == "projects/<project number>/secrets/pangolin-api-key" || `,
		} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("plan lacks %q:\n%s", want, r.stdout)
			}
		}
	})
	t.Run("placeholder project", func(t *testing.T) {
		t.Parallel()
		env := baseEnv()
		delete(env, "DIY_PROJECT")
		r := runDeploy(t, repo(t, sampleGoMod), fake{}, env, "--dry-run")
		if r.exit != 0 || len(r.calls) > 0 {
			t.Fatalf("exit = %d, gcloud calls:\n%s\nwant 0 and none", r.exit, r.callList())
		}
		if !strings.Contains(r.stdout, "--project=my-project") ||
			!strings.Contains(r.stderr, "DIY_PROJECT is unset") {
			t.Errorf("want the my-project placeholder and a note; stdout:\n%s\nstderr:\n%s",
				r.stdout, r.stderr)
		}
	})
	t.Run("quoting", func(t *testing.T) {
		t.Parallel()
		env := baseEnv()
		env["DIY_BASIC_AUTH_USER"] = "o'brien $USER"
		env["DIY_BASIC_AUTH_PASSWORD_VALUE"] = "x"
		r := runDeploy(t, repo(t, sampleGoMod), fake{}, env, "--dry-run")
		line := ""
		for _, l := range strings.Split(r.stdout, "\n") {
			if strings.HasPrefix(l, "gcloud functions deploy diy ") {
				line = l
			}
		}
		// Read the line back with bash; gcloud prints its arguments.
		out, err := exec.Command("bash", "-c",
			`gcloud() { printf '%s\n' "$@"; }; `+line).Output()
		if err != nil {
			t.Fatalf("bash reading %q: %v", line, err)
		}
		want := "DIY_BASIC_AUTH_USER=o'brien $USER"
		if !strings.Contains(string(out), want) {
			t.Errorf("line %q reads back as:\n%s\nwant an argument containing %q", line, out, want)
		}
	})
}

func TestHelpListsEverySetting(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile(filepath.Join("..", "deploy.sh"))
	if err != nil {
		t.Fatalf("read deploy.sh: %v", err)
	}
	settings := regexp.MustCompile(`(?m)^([A-Z_]+)=\$\{([A-Z_]+):-(.*)\}$`).FindAllSubmatch(src, -1)
	if len(settings) < 30 {
		t.Fatalf("found %d settings in deploy.sh, want at least 30", len(settings))
	}
	for _, arg := range []string{"-h", "--help"} {
		r := runDeploy(t, repo(t, sampleGoMod), fake{}, nil, arg)
		if r.exit != 0 || len(r.calls) > 0 {
			t.Fatalf("%s: exit = %d, %d gcloud calls; want 0 and none", arg, r.exit, len(r.calls))
		}
		for _, s := range settings {
			name, def := string(s[1]), string(s[3])
			if string(s[2]) != name {
				t.Errorf("%s defaults from %s", name, s[2])
			}
			if !regexp.MustCompile(`(?m)^  ` + name + ` +\[`).MatchString(r.stdout) {
				t.Errorf("%s: help does not list %s", arg, name)
			}
			literal := def != "" && !strings.Contains(def, "$")
			if literal && !strings.Contains(r.stdout, "["+def+"]") {
				t.Errorf("%s: help does not show default [%s] of %s", arg, def, name)
			}
		}
		for _, name := range []string{"DIY_HMAC_SECRET_VALUE", "DIY_BASIC_AUTH_PASSWORD_VALUE",
			"PANGOLIN_API_KEY_VALUE", "--dry-run", "go126"} {
			if !strings.Contains(r.stdout, name) {
				t.Errorf("%s: help does not mention %s", arg, name)
			}
		}
	}
}

func TestUnknownArgument(t *testing.T) {
	t.Parallel()
	r := runDeploy(t, repo(t, sampleGoMod), fake{}, baseEnv(), "--bogus")
	if r.exit != 2 || len(r.calls) > 0 || !strings.Contains(r.stderr, "--bogus") {
		t.Errorf("exit = %d, %d calls, stderr %q; want 2, none, naming --bogus",
			r.exit, len(r.calls), r.stderr)
	}
}
