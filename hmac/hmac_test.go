package hmac_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/dmp-diy/diy/hmac"
)

// RFC 2202, section 3: test vectors for HMAC-SHA1.
var rfc2202 = []struct {
	name string
	key  []byte
	data []byte
	want string
}{
	{"case 1", bytes.Repeat([]byte{0x0b}, 20), []byte("Hi There"),
		"b617318655057264e28bc0b6fb378c8ef146be00"},
	{"case 2", []byte("Jefe"), []byte("what do ya want for nothing?"),
		"effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"},
	{"case 3", bytes.Repeat([]byte{0xaa}, 20), bytes.Repeat([]byte{0xdd}, 50),
		"125d7342b9ac11cd91a39af48aa17b4f63f175d3"},
	{"case 4", seq(1, 25), bytes.Repeat([]byte{0xcd}, 50),
		"4c9007f4026250c6bc8414f9bf50c86c2d7235da"},
	{"case 5", bytes.Repeat([]byte{0x0c}, 20), []byte("Test With Truncation"),
		"4c1a03424b55e07fe7f27be1d58bb9324a9a5a04"},
	{"case 6", bytes.Repeat([]byte{0xaa}, 80),
		[]byte("Test Using Larger Than Block-Size Key - Hash Key First"),
		"aa4ae5e15272d00e95705637ce8a3b55ed402112"},
	{"case 7", bytes.Repeat([]byte{0xaa}, 80),
		[]byte("Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data"),
		"e8e99d0f45237d786d6bbaa7965c7808bbff1a91"},
}

func seq(from, to byte) []byte {
	var b []byte
	for i := from; i <= to; i++ {
		b = append(b, i)
	}
	return b
}

func TestSignRFC2202(t *testing.T) {
	for _, tc := range rfc2202 {
		t.Run(tc.name, func(t *testing.T) {
			if got := hmac.Sign(tc.key, tc.data); got != tc.want {
				t.Errorf("Sign() = %s, want %s", got, tc.want)
			}
			v, err := hmac.NewVerifier(tc.key)
			if err != nil {
				t.Fatalf("NewVerifier() = %v", err)
			}
			if err := v.Verify(tc.data, tc.want); err != nil {
				t.Errorf("Verify(lower case) = %v, want nil", err)
			}
			if err := v.Verify(tc.data, strings.ToUpper(tc.want)); err != nil {
				t.Errorf("Verify(upper case) = %v, want nil", err)
			}
		})
	}
}

func TestVerify(t *testing.T) {
	secret := []byte("s3cret")
	body := []byte(`{"Type":"VALIDATE"}`)
	good := hmac.Sign(secret, body)
	v, err := hmac.NewVerifier(secret)
	if err != nil {
		t.Fatalf("NewVerifier() = %v", err)
	}

	tests := []struct {
		name string
		body []byte
		sig  string
		want error
	}{
		{"valid", body, good, nil},
		{"mixed case hex", body, strings.ToUpper(good[:20]) + good[20:], nil},
		{"empty body signed", nil, hmac.Sign(secret, nil), nil},
		{"missing", body, "", hmac.ErrMissingSignature},
		{"too short", body, good[:39], hmac.ErrMalformedSignature},
		{"too long", body, good + "0", hmac.ErrMalformedSignature},
		{"not hex", body, "zz" + good[2:], hmac.ErrMalformedSignature},
		{"spaces", body, " " + good[1:], hmac.ErrMalformedSignature},
		{"wrong", body, strings.Repeat("0", 40), hmac.ErrBadSignature},
		{"trailing newline in body", append(append([]byte{}, body...), '\n'), good,
			hmac.ErrBadSignature},
		{"other secret", body, hmac.Sign([]byte("other"), body), hmac.ErrBadSignature},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := v.Verify(tc.body, tc.sig); !errors.Is(err, tc.want) {
				t.Errorf("Verify(%q, %q) = %v, want %v", tc.body, tc.sig, err, tc.want)
			}
		})
	}
}

func TestRotation(t *testing.T) {
	body := []byte(`{"Type":"ADD_TO_AUDIENCE"}`)
	current, previous := []byte("new-secret"), []byte("old-secret")
	v, err := hmac.NewVerifier(current, previous)
	if err != nil {
		t.Fatalf("NewVerifier() = %v", err)
	}
	for _, s := range [][]byte{current, previous} {
		if err := v.Verify(body, hmac.Sign(s, body)); err != nil {
			t.Errorf("Verify(signed with %q) = %v, want nil", s, err)
		}
	}
	if err := v.Verify(body, hmac.Sign([]byte("retired"), body)); !errors.Is(err, hmac.ErrBadSignature) {
		t.Errorf("Verify(signed with a retired secret) = %v, want ErrBadSignature", err)
	}
}

func TestNewVerifierRefusesEmptySecrets(t *testing.T) {
	if _, err := hmac.NewVerifier(); !errors.Is(err, hmac.ErrNoSecret) {
		t.Errorf("NewVerifier() = %v, want ErrNoSecret", err)
	}
	if _, err := hmac.NewVerifier([]byte("a"), nil); !errors.Is(err, hmac.ErrEmptySecret) {
		t.Errorf("NewVerifier(a, nil) = %v, want ErrEmptySecret", err)
	}
	var nilVerifier *hmac.Verifier
	if err := nilVerifier.Verify(nil, hmac.Sign([]byte("x"), nil)); !errors.Is(err, hmac.ErrNoSecret) {
		t.Errorf("(*Verifier)(nil).Verify() = %v, want ErrNoSecret", err)
	}
}

func TestNewVerifierCopiesSecrets(t *testing.T) {
	secret := []byte("mutable")
	v, err := hmac.NewVerifier(secret)
	if err != nil {
		t.Fatalf("NewVerifier() = %v", err)
	}
	body := []byte("x")
	sig := hmac.Sign(secret, body)
	copy(secret, "XXXXXXX")
	if err := v.Verify(body, sig); err != nil {
		t.Errorf("Verify() after the caller changed its slice = %v, want nil", err)
	}
}

func FuzzVerify(f *testing.F) {
	secret := []byte("fuzz-secret")
	v, err := hmac.NewVerifier(secret)
	if err != nil {
		f.Fatalf("NewVerifier() = %v", err)
	}
	f.Add([]byte(`{"Type":"VALIDATE"}`), "")
	f.Add([]byte{}, strings.Repeat("A", 40))
	f.Add([]byte("x"), hmac.Sign(secret, []byte("x")))
	f.Fuzz(func(t *testing.T, body []byte, sig string) {
		err := v.Verify(body, sig) // must never panic
		want := hmac.Sign(secret, body)
		if strings.EqualFold(sig, want) != (err == nil) {
			t.Fatalf("Verify(%q, %q) = %v; signature valid: %v", body, sig, err, strings.EqualFold(sig, want))
		}
		if err := v.Verify(body, want); err != nil {
			t.Fatalf("Verify(body, Sign(body)) = %v, want nil", err)
		}
	})
}
