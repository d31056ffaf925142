package deploytest

import (
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// projectNumber is what the fake gcloud answers for the project number.
const projectNumber = "123456789012"

// keyGrant returns the project-level secretAccessor binding of a run.
func keyGrant(t *testing.T, r result) (int, call) {
	t.Helper()
	for i, c := range r.calls {
		role, _ := call(c).flag("role")
		if call(c).is("projects", "add-iam-policy-binding") &&
			role == "roles/secretmanager.secretAccessor" {
			return i, call(c)
		}
	}
	t.Fatalf("no project-level secretAccessor binding; calls:\n%s", r.callList())
	return -1, nil
}

// parseCondition splits a --condition value the way gcloud does: pairs
// separated by commas, each key=value split at the first "=".
func parseCondition(t *testing.T, v string) map[string]string {
	t.Helper()
	got := map[string]string{}
	for _, pair := range strings.Split(v, ",") {
		key, value, ok := strings.Cut(pair, "=")
		if !ok || got[key] != "" {
			t.Fatalf("condition %q: bad or repeated pair %q", v, pair)
		}
		got[key] = value
	}
	return got
}

// clause is one term of the condition: resource.name == "x" or
// resource.name.startsWith("x").
var clause = regexp.MustCompile(`^resource\.name(?: == "([^"]*)"|\.startsWith\("([^"]*)"\))$`)

// matches evaluates expression, which must be clauses joined by " || ", for
// a resource name. Anything else fails the test: a condition this cannot
// read is one nobody has reviewed.
func matches(t *testing.T, expression, name string) bool {
	t.Helper()
	for _, term := range strings.Split(expression, " || ") {
		m := clause.FindStringSubmatch(term)
		switch {
		case m == nil:
			t.Fatalf("expression %q: unexpected term %q", expression, term)
		case m[1] != "" && name == m[1], m[2] != "" && strings.HasPrefix(name, m[2]):
			return true
		}
	}
	return false
}

func TestKeyGrantCoversEveryKeySecretAndNothingElse(t *testing.T) {
	t.Parallel()
	const secrets = "projects/" + projectNumber + "/secrets/"
	tests := []struct {
		name  string
		base  string // DIY_PANGOLIN_KEY_SECRET; "" = default
		match []string
		miss  []string
	}{
		{
			name: "default base",
			match: []string{
				secrets + "pangolin-api-key",
				secrets + "pangolin-api-key/versions/latest",
				secrets + "pangolin-api-key/versions/3",
				secrets + "pangolin-api-key-123",
				secrets + "pangolin-api-key-123/versions/latest",
				secrets + "pangolin-api-key-987654/versions/1", // added after the deploy
				secrets + "pangolin-api-key-other-thing",       // accepted: same prefix
			},
			miss: []string{
				secrets + "diy-hmac-secret",
				secrets + "diy-hmac-secret/versions/latest",
				secrets + "diy-basic-auth-password/versions/1",
				secrets + "pangolin-api-key2/versions/1",
				secrets + "pangolin-api-keys",
				secrets + "other-pangolin-api-key-1",
				"projects/" + projectNumber,
				"projects/test-proj/secrets/pangolin-api-key-123", // IAM uses the number
				"projects/999/secrets/pangolin-api-key-123",
			},
		},
		{
			name:  "own base",
			base:  "acme-key",
			match: []string{secrets + "acme-key/versions/latest", secrets + "acme-key-5"},
			miss:  []string{secrets + "pangolin-api-key", secrets + "pangolin-api-key-5"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := baseEnv()
			if tt.base != "" {
				env["DIY_PANGOLIN_KEY_SECRET"] = tt.base
			}
			r := deployOK(t, fake{mode: "empty"}, env)
			_, c := keyGrant(t, r)
			wantFlags(t, c, map[string]string{"member": runtimeSA})
			v, _ := c.flag("condition")
			// diy-forward's account gets the same grant.
			n := 0
			for _, other := range r.calls {
				m, _ := call(other).flag("member")
				w, _ := call(other).flag("condition")
				if call(other).is("projects", "add-iam-policy-binding") && m == forwardSA && w != "None" {
					n++
					if w != v {
						t.Errorf("diy-forward's key condition %q differs from diy's %q", w, v)
					}
				}
			}
			if n != 1 {
				t.Errorf("diy-forward's account got %d conditional key grants, want 1", n)
			}
			cond := parseCondition(t, v)
			if cond["title"] == "" || cond["description"] == "" {
				t.Errorf("condition %q: want a title and a description", v)
			}
			for _, name := range tt.match {
				if !matches(t, cond["expression"], name) {
					t.Errorf("condition %q does not cover %s", cond["expression"], name)
				}
			}
			for _, name := range tt.miss {
				if matches(t, cond["expression"], name) {
					t.Errorf("condition %q covers %s", cond["expression"], name)
				}
			}
		})
	}
}

func TestKeyGrantComesWithTheProjectNumber(t *testing.T) {
	t.Parallel()
	r := runDeploy(t, repo(t, sampleGoMod), fake{mode: "empty"}, baseEnv())
	if r.exit != 0 {
		t.Fatalf("deploy.sh exit = %d, want 0; stderr:\n%s", r.exit, r.stderr)
	}
	grant, c := keyGrant(t, r)
	want := "expression=resource.name == " +
		`"projects/123456789012/secrets/pangolin-api-key" || ` +
		`resource.name.startsWith("projects/123456789012/secrets/pangolin-api-key/") || ` +
		`resource.name.startsWith("projects/123456789012/secrets/pangolin-api-key-"),` +
		"title=diy-pangolin-keys,description=Pangolin API keys read by the DMP DIY " +
		"functions: secret pangolin-api-key and every secret pangolin-api-key-*"
	if got, _ := c.flag("condition"); got != want {
		t.Errorf("%v:\n --condition = %q\nwant %q", c, got, want)
	}
	if number, _ := r.mustFind(t, "projects", "describe", project); number > grant {
		t.Errorf("the key grant comes before the project number is read:\n%s", r.callList())
	}
	if deploy, _ := r.mustFind(t, "functions", "deploy"); deploy < grant {
		t.Errorf("a function is deployed before it may read its keys:\n%s", r.callList())
	}
}

// TestNoGrantOnSingleKeySecrets: a grant on single key secrets would make a
// missing customer secret answer PERMISSION_DENIED instead of NOT_FOUND, so
// the functions would not fall back to the default key.
func TestNoGrantOnSingleKeySecrets(t *testing.T) {
	t.Parallel()
	env := baseEnv()
	env["DIY_PANGOLIN_CUSTOMERS"] = "123 456"
	r := deployOK(t, fake{mode: "empty"}, env)
	var granted []string
	for _, c := range r.calls {
		if call(c).is("secrets", "add-iam-policy-binding") {
			granted = append(granted, c[2])
		}
	}
	if want := []string{"diy-hmac-secret"}; !slices.Equal(granted, want) {
		t.Errorf("secret-level grants on %v, want only %v", granted, want)
	}
	// The customers' secrets are still created, empty, ready for a value.
	r.mustFind(t, "secrets", "create", "pangolin-api-key-123")
	r.mustFind(t, "secrets", "create", "pangolin-api-key-456")
}

// TestKeyGrantIsTheSameOnEveryRun: gcloud adds a conditional binding only
// when no binding has the same role, expression, title and description, so
// the same arguments on every run keep the policy at one binding.
func TestKeyGrantIsTheSameOnEveryRun(t *testing.T) {
	t.Parallel()
	script := repo(t, sampleGoMod)
	first := runDeploy(t, script, fake{mode: "empty"}, baseEnv())
	env := baseEnv()
	env["DIY_HMAC_SECRET_VALUE"] = ""
	second := runDeploy(t, script, fake{mode: "exists"}, env)
	if first.exit != 0 || second.exit != 0 {
		t.Fatalf("exits %d, %d, want 0; stderr:\n%s\n%s", first.exit, second.exit,
			first.stderr, second.stderr)
	}
	_, a := keyGrant(t, first)
	_, b := keyGrant(t, second)
	if !slices.Equal(a, b) {
		t.Errorf("first run: %v\nsecond run: %v\nwant the same", a, b)
	}
}

// TestDryRunKeyGrantReadsBack: the printed grant is one shell word per
// argument, so it can be pasted once the project number is filled in.
func TestDryRunKeyGrantReadsBack(t *testing.T) {
	t.Parallel()
	r := runDeploy(t, repo(t, sampleGoMod), fake{}, baseEnv(), "--dry-run")
	if r.exit != 0 {
		t.Fatalf("deploy.sh --dry-run exit = %d, want 0; stderr:\n%s", r.exit, r.stderr)
	}
	line := ""
	for _, l := range strings.Split(r.stdout, "\n") {
		if strings.Contains(l, "projects add-iam-policy-binding") &&
			strings.Contains(l, "secretAccessor") {
			line = l
		}
	}
	out, err := exec.Command("bash", "-c", `gcloud() { printf '%s\n' "$@"; }; `+line).Output()
	if err != nil {
		t.Fatalf("bash reading %q: %v", line, err)
	}
	args := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	cond, _ := call(args).flag("condition")
	got := parseCondition(t, cond)["expression"]
	want := `resource.name == "projects/<project number>/secrets/pangolin-api-key" || ` +
		`resource.name.startsWith("projects/<project number>/secrets/pangolin-api-key/") || ` +
		`resource.name.startsWith("projects/<project number>/secrets/pangolin-api-key-")`
	if got != want {
		t.Errorf("line %q reads back with expression\n%q\nwant %q", line, got, want)
	}
}
