package deploytest

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	// Nothing here talks to Google; make sure a stray client could not either.
	os.Setenv("GCE_METADATA_HOST", "127.0.0.1:9")
	os.Setenv("METADATA_SERVER_DETECTION", "none")
	os.Exit(m.Run())
}

// fakeGcloud is a POSIX shell stand-in for the gcloud CLI. It appends each
// call's arguments, separated by \x1f, as one line to $FAKE_GCLOUD_LOG, its
// environment to $FAKE_GCLOUD_ENV, and what `secrets versions add NAME`
// reads on stdin to $FAKE_GCLOUD_STDIN as "NAME=VALUE\x1e".
// $FAKE_GCLOUD_MODE is "empty" (nothing exists: describe fails, lists are
// empty) or "exists" (everything exists). A call whose space-joined
// arguments contain $FAKE_GCLOUD_FAIL fails.
const fakeGcloud = `#!/bin/sh
for a in "$@"; do printf '%s\037' "$a"; done >>"$FAKE_GCLOUD_LOG"
printf '\n' >>"$FAKE_GCLOUD_LOG"
env >>"$FAKE_GCLOUD_ENV"
if [ -n "$FAKE_GCLOUD_FAIL" ]; then
  case " $* " in *"$FAKE_GCLOUD_FAIL"*)
    echo "ERROR: (gcloud) fake failure of: $*" >&2; exit 1;;
  esac
fi
project=
for a in "$@"; do case $a in --project=*) project=${a#--project=};; esac; done
exists=false
[ "$FAKE_GCLOUD_MODE" = exists ] && exists=true
case "$1 $2 $3" in
"config get-value project") printf '%s\n' "$FAKE_GCLOUD_PROJECT"; exit 0;;
"projects describe "*) echo 123456789012; exit 0;;
"functions describe "*) echo "https://$3-xyz.a.run.app"; exit 0;;
"secrets versions list") $exists && echo projects/1/secrets/s/versions/1; exit 0;;
"secrets versions access") printf '%s' "$FAKE_GCLOUD_SECRET_VALUE"; exit 0;;
"secrets versions add")
  { printf '%s=' "$4"; cat; printf '\036'; } >>"$FAKE_GCLOUD_STDIN"; exit 0;;
"pubsub subscriptions describe")
  if $exists; then
    printf 'projects/%s/topics/%s\t%s\n' "$project" "${FAKE_GCLOUD_SUB_TOPIC:-diy-mutations}" \
      "${FAKE_GCLOUD_ORDERING-True}"
    exit 0
  fi;;
"firestore databases describe")
  if $exists; then echo "${FAKE_GCLOUD_FIRESTORE_TYPE:-FIRESTORE_NATIVE}"; exit 0; fi;;
esac
case " $* " in *" describe "*)
  if $exists; then exit 0; fi
  echo "ERROR: (gcloud) NOT_FOUND: $*" >&2; exit 1;;
esac
exit 0
`

// fake configures the fake gcloud for one run.
type fake struct {
	mode        string // "empty" (default) or "exists"
	fail        string // a call containing this fails
	secretValue string // what `secrets versions access` prints
	noOrdering  bool   // an existing subscription lacks message ordering
	subTopic    string // topic of an existing subscription
	firestore   string // type of an existing Firestore database
}

// result is what one run of deploy.sh did.
type result struct {
	stdout, stderr string
	exit           int
	calls          [][]string        // arguments of each gcloud call, in order
	gcloudEnv      string            // environments gcloud was called with
	stdin          map[string]string // secret name -> last value sent on stdin
}

// repo makes a directory holding a copy of deploy.sh and a go.mod with the
// given contents, and returns the script's path.
func repo(t *testing.T, goMod string) string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("..", "deploy.sh"))
	if err != nil {
		t.Fatalf("read deploy.sh: %v", err)
	}
	dir := t.TempDir()
	script := filepath.Join(dir, "deploy.sh")
	if err := os.WriteFile(script, src, 0o755); err != nil {
		t.Fatalf("copy deploy.sh: %v", err)
	}
	if goMod != "" {
		if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(goMod), 0o644); err != nil {
			t.Fatalf("write go.mod: %v", err)
		}
	}
	return script
}

const sampleGoMod = "module example.com/diy\n\ngo 1.26.0\n"

// baseEnv is the smallest environment a first run succeeds with.
func baseEnv() map[string]string {
	return map[string]string{
		"DIY_PROJECT":           "test-proj",
		"PANGOLIN_URL":          "https://pangolin.test",
		"DIY_HMAC_SECRET_VALUE": "hmac-value-for-tests",
		"DIY_IAM_RETRY_DELAY":   "0",
	}
}

// deployOK runs deploy.sh from a sample module against the fake and
// stops the test unless it succeeds.
func deployOK(t *testing.T, f fake, env map[string]string) result {
	t.Helper()
	r := runDeploy(t, repo(t, sampleGoMod), f, env)
	if r.exit != 0 {
		t.Fatalf("deploy.sh exit = %d, want 0; stderr:\n%s", r.exit, r.stderr)
	}
	return r
}

// runDeploy runs script with only env (plus PATH with the fake gcloud first
// and a private HOME) and returns what happened. Nothing is inherited from
// the environment of the test, so stray DIY_* settings cannot leak in.
func runDeploy(t *testing.T, script string, f fake, env map[string]string, args ...string) result {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "gcloud"), []byte(fakeGcloud), 0o755); err != nil {
		t.Fatalf("write fake gcloud: %v", err)
	}
	logFile, stdinFile := filepath.Join(dir, "calls.log"), filepath.Join(dir, "stdin.log")
	envFile := filepath.Join(dir, "env.log")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{script}, args...)...)
	cmd.Dir = dir
	cmd.Env = []string{
		"PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH"),
		"HOME=" + dir,
		"CLOUDSDK_CONFIG=" + filepath.Join(dir, "gcloud-config"),
		"FAKE_GCLOUD_LOG=" + logFile,
		"FAKE_GCLOUD_STDIN=" + stdinFile,
		"FAKE_GCLOUD_ENV=" + envFile,
		"FAKE_GCLOUD_MODE=" + f.mode,
		"FAKE_GCLOUD_FAIL=" + f.fail,
		"FAKE_GCLOUD_SECRET_VALUE=" + f.secretValue,
		"FAKE_GCLOUD_SUB_TOPIC=" + f.subTopic,
		"FAKE_GCLOUD_FIRESTORE_TYPE=" + f.firestore,
	}
	if f.noOrdering {
		cmd.Env = append(cmd.Env, "FAKE_GCLOUD_ORDERING=")
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr

	res := result{exit: 0}
	if err := cmd.Run(); err != nil {
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) {
			t.Fatalf("run %s: %v", script, err)
		}
		res.exit = exitErr.ExitCode()
	}
	res.stdout, res.stderr = stdout.String(), stderr.String()
	res.calls = readCalls(t, logFile)
	res.stdin = readStdin(t, stdinFile)
	if env, err := os.ReadFile(envFile); err == nil {
		res.gcloudEnv = string(env)
	}
	return res
}

func readCalls(t *testing.T, path string) [][]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatalf("read call log: %v", err)
	}
	var calls [][]string
	for _, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		calls = append(calls, strings.Split(strings.TrimSuffix(line, "\x1f"), "\x1f"))
	}
	return calls
}

func readStdin(t *testing.T, path string) map[string]string {
	t.Helper()
	got := map[string]string{}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return got
	}
	if err != nil {
		t.Fatalf("read stdin log: %v", err)
	}
	for _, rec := range strings.Split(strings.TrimSuffix(string(data), "\x1e"), "\x1e") {
		name, value, _ := strings.Cut(rec, "=")
		got[name] = value
	}
	return got
}

// call is one recorded gcloud call.
type call []string

func (c call) String() string { return "gcloud " + strings.Join(c, " ") }

// is reports whether the call starts with the given words, e.g.
// is("pubsub", "topics", "create", "diy-mutations").
func (c call) is(words ...string) bool {
	if len(c) < len(words) {
		return false
	}
	for i, w := range words {
		if c[i] != w {
			return false
		}
	}
	return true
}

// flag returns the value of --name=value, and whether it is present. A
// flag without a value is present with "".
func (c call) flag(name string) (string, bool) {
	for _, a := range c {
		if a == "--"+name {
			return "", true
		}
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// find returns the index of the first call starting with words, or -1.
func (r result) find(words ...string) int {
	for i, c := range r.calls {
		if call(c).is(words...) {
			return i
		}
	}
	return -1
}

// mustFind is find that fails the test when no call matches.
func (r result) mustFind(t *testing.T, words ...string) (int, call) {
	t.Helper()
	i := r.find(words...)
	if i < 0 {
		t.Fatalf("no call of gcloud %s; calls:\n%s", strings.Join(words, " "), r.callList())
	}
	return i, call(r.calls[i])
}

func (r result) callList() string {
	var b strings.Builder
	for _, c := range r.calls {
		b.WriteString(call(c).String())
		b.WriteByte('\n')
	}
	return b.String()
}
