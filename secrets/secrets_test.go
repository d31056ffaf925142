package secrets_test

import (
	"context"
	"errors"
	"testing"

	"github.com/dmp-diy/diy/secrets"
)

func TestStatic(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		key      string
		customer string
		want     string
		wantErr  error
	}{
		{name: "key for any customer", key: "k-1", customer: "123", want: "k-1"},
		{name: "same key for another customer", key: "k-1", customer: "456", want: "k-1"},
		{name: "empty key", key: "", customer: "123", wantErr: secrets.ErrNoKey},
		{name: "invalid customer", key: "k-1", customer: "1/2",
			wantErr: secrets.ErrInvalidCustomer},
		{name: "empty customer", key: "k-1", customer: "",
			wantErr: secrets.ErrInvalidCustomer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys := secrets.Static(tt.key)
			got, err := keys.APIKey(ctx, tt.customer)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("APIKey(%q) error = %v, want %v", tt.customer, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("APIKey(%q) = %q, want %q", tt.customer, got, tt.want)
			}
			keys.Invalidate(tt.customer)
			if again, _ := keys.APIKey(ctx, tt.customer); again != got {
				t.Errorf("APIKey(%q) after Invalidate = %q, want %q", tt.customer, again, got)
			}
		})
	}
}
