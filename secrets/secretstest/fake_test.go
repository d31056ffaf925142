package secretstest_test

import (
	"context"
	"errors"
	"os"
	"testing"

	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/dmp-diy/diy/secrets/secretstest"
)

func TestMain(m *testing.M) {
	os.Setenv("GCE_METADATA_HOST", "127.0.0.1:9")
	os.Setenv("METADATA_SERVER_DETECTION", "none")
	os.Exit(m.Run())
}

func TestFake(t *testing.T) {
	fake := secretstest.Start(t)
	client := fake.Client(t)
	ctx := context.Background()
	access := func(name string) (*secretmanagerpb.AccessSecretVersionResponse, error) {
		req := &secretmanagerpb.AccessSecretVersionRequest{Name: name}
		return client.AccessSecretVersion(ctx, req)
	}
	const latest = "projects/p/secrets/s/versions/latest"

	fake.Set("p", "s", "v1")
	fake.Set("p", "s", "v2")
	resp, err := access(latest)
	if err != nil {
		t.Fatalf("AccessSecretVersion(%s) error = %v", latest, err)
	}
	if got, want := resp.GetName(), "projects/p/secrets/s/versions/2"; got != want {
		t.Errorf("AccessSecretVersion(%s).Name = %q, want %q", latest, got, want)
	}
	if got := string(resp.GetPayload().GetData()); got != "v2" {
		t.Errorf("AccessSecretVersion(%s) data = %q, want v2", latest, got)
	}

	tests := []struct {
		name     string
		resource string
		prep     func()
		want     codes.Code
	}{
		{name: "other project", resource: "projects/q/secrets/s/versions/latest",
			want: codes.NotFound},
		{name: "numbered version", resource: "projects/p/secrets/s/versions/2",
			want: codes.InvalidArgument},
		{name: "deleted", resource: latest, prep: func() { fake.Delete("p", "s") },
			want: codes.NotFound},
		{name: "injected", resource: latest, prep: func() {
			fake.Set("p", "s", "v3")
			fake.FailWith("s", status.Error(codes.Aborted, "x"))
		}, want: codes.Aborted},
		{name: "plain error", resource: latest,
			prep: func() { fake.FailWith("s", errors.New("x")) }, want: codes.Unknown},
		{name: "cleared", resource: latest, prep: func() { fake.FailWith("s", nil) },
			want: codes.OK},
	}
	for _, tt := range tests {
		if tt.prep != nil {
			tt.prep()
		}
		if _, err := access(tt.resource); status.Code(err) != tt.want {
			t.Errorf("%s: AccessSecretVersion(%s) error = %v, want code %v",
				tt.name, tt.resource, err, tt.want)
		}
	}
	// Every request with a well-formed name is counted, failed ones included.
	if got, want := fake.Calls("s"), 6; got != want {
		t.Errorf("Calls(s) = %d, want %d", got, want)
	}
}
