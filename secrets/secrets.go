// Package secrets provides the Pangolin API key to use for each DMP
// customer.
//
// Two implementations satisfy [Keys]: [Static], one key for every customer
// (local runs and tests), and [SecretManager], which reads keys from Google
// Secret Manager and caches them in memory for a short time. In Secret
// Manager a customer's key lives in the secret "<base>-<customer>" (for
// example pangolin-api-key-123); customers without a secret of their own
// use the default secret "<base>". Only the latest version is read.
//
// Credentials are their own concern, shared by the diy and forward
// functions, which is why this package sits at the top of the module.
package secrets

import (
	"context"
	"errors"
	"fmt"
)

// Keys hands out Pangolin API keys per DMP customer. Implementations in this
// package are safe for concurrent use.
type Keys interface {
	// APIKey returns the Pangolin API key for a DMP customer.
	APIKey(ctx context.Context, customer string) (string, error)
	// Invalidate forgets a cached key (after Pangolin answered 401).
	Invalidate(customer string)
}

var (
	// ErrNoKey reports that no key is configured for a customer: neither
	// a customer secret nor the default secret exists, or the static key
	// is empty.
	ErrNoKey = errors.New("secrets: no Pangolin API key")

	// ErrEmptySecret reports a secret whose latest version holds nothing
	// but whitespace.
	ErrEmptySecret = errors.New("secrets: secret payload is empty")

	// ErrInvalidCustomer reports a customer ID that is empty, too long or
	// holds characters other than ASCII letters, digits, '_' and '-'.
	ErrInvalidCustomer = errors.New("secrets: invalid customer ID")
)

// maxSecretID is the longest secret ID Secret Manager accepts.
const maxSecretID = 255

// validCustomer reports an error wrapping ErrInvalidCustomer unless customer
// can be used as the suffix of a secret ID. Checking before a resource name
// is built keeps names valid and stops path injection ("1/../x").
func validCustomer(customer string) error {
	if customer == "" || len(customer) > maxSecretID {
		return fmt.Errorf("%w: length %d", ErrInvalidCustomer, len(customer))
	}
	if !validName(customer) {
		return fmt.Errorf("%w: %q", ErrInvalidCustomer, customer)
	}
	return nil
}

// validName reports whether s is made only of the characters a secret ID
// may hold: ASCII letters, digits, '_' and '-'.
func validName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' ||
			c == '_' || c == '-'
		if !ok {
			return false
		}
	}
	return true
}

// Static returns Keys that answer key for every valid customer. An empty key
// makes APIKey fail with ErrNoKey, so a missing setting is reported on first
// use rather than sent to Pangolin. Invalidate does nothing. The result is
// safe for concurrent use.
func Static(key string) Keys {
	return staticKeys{key: key}
}

type staticKeys struct {
	key string
}

// APIKey returns the static key after checking the customer ID the same way
// SecretManager does, so local runs reject what production would.
func (s staticKeys) APIKey(_ context.Context, customer string) (string, error) {
	if err := validCustomer(customer); err != nil {
		return "", err
	}
	if s.key == "" {
		return "", fmt.Errorf("%w: the static key is empty", ErrNoKey)
	}
	return s.key, nil
}

// Invalidate does nothing: a static key cannot change.
func (staticKeys) Invalidate(string) {}
