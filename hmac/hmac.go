// Package hmac signs and verifies the DMP's X-HMAC request signatures.
//
// The DMP signs the exact bytes of every POST body with HMAC-SHA1 under a
// secret shared at set-up, and sends the digest as 40 hexadecimal
// characters. Verification is a pure function over the raw body: nothing is
// decoded before the signature has been checked.
//
// During a secret rotation several secrets may be configured at once; a
// signature valid under any of them is accepted. Comparisons run in
// constant time, and a missing, empty, short, long or non-hex signature is
// an error, never a panic.
package hmac

import (
	stdhmac "crypto/hmac"
	"crypto/sha1" // #nosec G505 -- HMAC-SHA1 is the DMP's protocol, not our choice.
	"encoding/hex"
	"errors"
)

// SignatureLength is the length of a hex-encoded HMAC-SHA1 digest.
const SignatureLength = 2 * sha1.Size

var (
	// ErrNoSecret means no usable secret is configured: verification fails
	// closed rather than fall back to an empty key.
	ErrNoSecret = errors.New("hmac: no secret configured")
	// ErrEmptySecret is returned when one of the given secrets is empty.
	ErrEmptySecret = errors.New("hmac: empty secret")
	// ErrMissingSignature means the request carried no signature.
	ErrMissingSignature = errors.New("hmac: missing signature")
	// ErrMalformedSignature means the signature is not 40 hex characters.
	ErrMalformedSignature = errors.New("hmac: signature is not 40 hexadecimal characters")
	// ErrBadSignature means the signature matches none of the secrets.
	ErrBadSignature = errors.New("hmac: signature does not match the body")
)

// Sign returns the lower-case hex HMAC-SHA1 of body under secret.
func Sign(secret, body []byte) string {
	return hex.EncodeToString(digest(secret, body))
}

// Verifier checks signatures against one or more secrets. It is immutable
// after creation and safe for concurrent use.
type Verifier struct {
	secrets [][]byte
}

// NewVerifier returns a Verifier accepting signatures made with any of the
// given secrets. It refuses an empty list (ErrNoSecret) and empty secrets
// (ErrEmptySecret).
func NewVerifier(secrets ...[]byte) (*Verifier, error) {
	if len(secrets) == 0 {
		return nil, ErrNoSecret
	}
	v := &Verifier{secrets: make([][]byte, len(secrets))}
	for i, s := range secrets {
		if len(s) == 0 {
			return nil, ErrEmptySecret
		}
		v.secrets[i] = append([]byte(nil), s...)
	}
	return v, nil
}

// Verify checks that signature, as sent in the X-HMAC header, is the
// HMAC-SHA1 of body under one of the secrets. Hex digits may be upper or
// lower case. A nil Verifier fails closed with ErrNoSecret.
func (v *Verifier) Verify(body []byte, signature string) error {
	if v == nil || len(v.secrets) == 0 {
		return ErrNoSecret
	}
	if signature == "" {
		return ErrMissingSignature
	}
	if len(signature) != SignatureLength {
		return ErrMalformedSignature
	}
	got, err := hex.DecodeString(signature)
	if err != nil {
		return ErrMalformedSignature
	}
	// Every secret is tried, so the time taken does not reveal which one
	// (or whether any) matched.
	ok := 0
	for _, s := range v.secrets {
		ok |= boolToInt(stdhmac.Equal(got, digest(s, body)))
	}
	if ok == 0 {
		return ErrBadSignature
	}
	return nil
}

func digest(secret, body []byte) []byte {
	m := stdhmac.New(sha1.New, secret)
	m.Write(body)
	return m.Sum(nil)
}

func boolToInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
