package secrets

import (
	"context"
	"fmt"

	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// NewSecretManagerClient returns a Secret Manager client. With an empty
// endpoint it is the production client using Application Default
// Credentials. Otherwise it connects to endpoint (host:port) over plain
// gRPC without authentication: an emulator or a test fake on loopback,
// as configured by SECRET_MANAGER_ENDPOINT. The caller closes the client.
func NewSecretManagerClient(ctx context.Context, endpoint string) (*secretmanager.Client, error) {
	var opts []option.ClientOption
	if endpoint != "" {
		opts = []option.ClientOption{
			option.WithEndpoint(endpoint),
			option.WithoutAuthentication(),
			option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
		}
	}
	client, err := secretmanager.NewClient(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("secrets: secretmanager.NewClient(endpoint %q): %w", endpoint, err)
	}
	return client, nil
}
