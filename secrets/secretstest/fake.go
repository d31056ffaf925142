// Package secretstest runs an in-process fake of the Secret Manager gRPC
// service for tests: secrets held in memory, changeable while a test runs
// (to simulate rotation), with per-secret call counts, injected errors and
// held responses. It serves on 127.0.0.1 only and needs no credentials.
package secretstest

import (
	"context"
	"fmt"
	"hash/crc32"
	"net"
	"strings"
	"sync"
	"testing"

	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/dmp-diy/diy/secrets"
)

// Fake implements AccessSecretVersion of the Secret Manager service; every
// other method answers Unimplemented. Secret names given to its methods are
// secret IDs (e.g. "pangolin-api-key-123"), not resource names. A Fake is
// safe for concurrent use.
type Fake struct {
	secretmanagerpb.UnimplementedSecretManagerServiceServer

	addr string

	mu       sync.Mutex
	secrets  map[string]version  // by "projects/P/secrets/S"
	calls    map[string]int      // by secret ID
	failures map[string]error    // by secret ID
	holds    map[string]chan any // by secret ID; closed on release
}

type version struct {
	number int
	data   []byte
}

// Start serves a new, empty Fake on 127.0.0.1 until the test ends.
func Start(t testing.TB) *Fake {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("secretstest: net.Listen: %v", err)
	}
	f := &Fake{
		addr:     lis.Addr().String(),
		secrets:  make(map[string]version),
		calls:    make(map[string]int),
		failures: make(map[string]error),
		holds:    make(map[string]chan any),
	}
	srv := grpc.NewServer()
	secretmanagerpb.RegisterSecretManagerServiceServer(srv, f)
	go func() { _ = srv.Serve(lis) }() // returns when the test ends
	t.Cleanup(func() {
		f.releaseAll()
		srv.Stop()
	})
	return f
}

// Client returns a real Secret Manager client connected to the fake through
// secrets.NewSecretManagerClient; it is closed when the test ends.
func (f *Fake) Client(t testing.TB) *secretmanager.Client {
	t.Helper()
	client, err := secrets.NewSecretManagerClient(context.Background(), f.addr)
	if err != nil {
		t.Fatalf("secretstest: %v", err)
	}
	t.Cleanup(func() { client.Close() })
	return client
}

// Addr returns the host:port the fake listens on, for
// secrets.NewSecretManagerClient or SECRET_MANAGER_ENDPOINT.
func (f *Fake) Addr() string {
	return f.addr
}

// Set adds a new latest version holding value to the secret name of
// project, creating the secret if needed.
func (f *Fake) Set(project, name, value string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	key := resource(project, name)
	f.secrets[key] = version{number: f.secrets[key].number + 1, data: []byte(value)}
}

// Delete removes the secret name of project; reads then answer NotFound.
func (f *Fake) Delete(project, name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.secrets, resource(project, name))
}

// Calls returns how many AccessSecretVersion requests named the secret
// name, in any project, including failed ones.
func (f *Fake) Calls(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[name]
}

// FailWith makes reads of the secret name fail with err until FailWith is
// called again with nil. Use a gRPC status error, such as
// status.Error(codes.PermissionDenied, "denied"), to choose the code the
// client sees; other errors reach it as codes.Unknown.
func (f *Fake) FailWith(name string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err == nil {
		delete(f.failures, name)
		return
	}
	f.failures[name] = err
}

// Hold makes reads of the secret name wait (after being counted) until the
// returned release is called or the test ends. A read also stops waiting
// when its request is cancelled.
func (f *Fake) Hold(name string) (release func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan any)
	f.holds[name] = ch
	var once sync.Once
	return func() {
		once.Do(func() {
			f.mu.Lock()
			defer f.mu.Unlock()
			if f.holds[name] == ch {
				delete(f.holds, name)
			}
			close(ch)
		})
	}
}

func (f *Fake) releaseAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for name, ch := range f.holds {
		close(ch)
		delete(f.holds, name)
	}
}

// AccessSecretVersion answers the latest version of a secret.
func (f *Fake) AccessSecretVersion(ctx context.Context,
	req *secretmanagerpb.AccessSecretVersionRequest,
) (*secretmanagerpb.AccessSecretVersionResponse, error) {
	project, name, ok := parse(req.GetName())
	if !ok {
		return nil, status.Errorf(codes.InvalidArgument, "invalid resource name %q", req.GetName())
	}

	f.mu.Lock()
	f.calls[name]++
	hold := f.holds[name]
	f.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.failures[name]; err != nil {
		return nil, err
	}
	v, ok := f.secrets[resource(project, name)]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "Secret [%s] not found or has no versions.",
			resource(project, name))
	}
	sum := int64(crc32.Checksum(v.data, crc32.MakeTable(crc32.Castagnoli)))
	return &secretmanagerpb.AccessSecretVersionResponse{
		Name:    fmt.Sprintf("%s/versions/%d", resource(project, name), v.number),
		Payload: &secretmanagerpb.SecretPayload{Data: v.data, DataCrc32C: &sum},
	}, nil
}

func resource(project, name string) string {
	return "projects/" + project + "/secrets/" + name
}

// parse splits "projects/P/secrets/S/versions/latest". Only the latest
// version is kept, so any other version is reported as malformed.
func parse(resourceName string) (project, name string, ok bool) {
	parts := strings.Split(resourceName, "/")
	if len(parts) != 6 || parts[0] != "projects" || parts[2] != "secrets" ||
		parts[4] != "versions" || parts[5] != "latest" || parts[1] == "" || parts[3] == "" {
		return "", "", false
	}
	return parts[1], parts[3], true
}
