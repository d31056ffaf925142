package pangolin_test

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"testing"

	"github.com/dmp-diy/diy/pangolin"
)

// childDataFileEnv makes the test binary run a Pangolin server on that data
// file instead of the tests, so a test can kill it with SIGKILL.
const childDataFileEnv = "PANGOLIN_TEST_CHILD_DATA_FILE"

func TestMain(m *testing.M) {
	// Nothing here talks to Google; make sure nothing can by accident.
	os.Setenv("GCE_METADATA_HOST", "127.0.0.1:9")
	os.Setenv("METADATA_SERVER_DETECTION", "none")

	if path := os.Getenv(childDataFileEnv); path != "" {
		if err := serveChild(path); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// serveChild serves a server on path until killed, after printing its URL.
func serveChild(path string) error {
	srv, err := pangolin.NewServer(pangolin.ServerOptions{
		APIKeys: []string{keyOne}, DataFile: path,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Printf("http://%s\n", ln.Addr())
	return http.Serve(ln, srv)
}
