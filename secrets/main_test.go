package secrets_test

import (
	"os"
	"testing"
)

// TestMain keeps the Google client libraries away from the network: no
// metadata server lookups; every test talks to a fake on 127.0.0.1.
func TestMain(m *testing.M) {
	os.Setenv("GCE_METADATA_HOST", "127.0.0.1:9")
	os.Setenv("METADATA_SERVER_DETECTION", "none")
	os.Exit(m.Run())
}
