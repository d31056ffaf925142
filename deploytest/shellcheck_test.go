package deploytest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestShellcheck lints deploy.sh. Outside CI a missing shellcheck skips the
// test; in CI (CI=true) it fails it, so the lint cannot be lost silently.
func TestShellcheck(t *testing.T) {
	t.Parallel()
	shellcheck, err := exec.LookPath("shellcheck")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("shellcheck is not installed; CI must lint deploy.sh " +
				"(apt-get install -y shellcheck)")
		}
		t.Skip("shellcheck is not installed; install it to lint deploy.sh (CI fails without it)")
	}
	out, err := exec.Command(shellcheck, filepath.Join("..", "deploy.sh")).CombinedOutput()
	if err != nil {
		t.Errorf("shellcheck deploy.sh: %v\n%s", err, out)
	}
}
