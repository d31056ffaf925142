package pangolin

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"strings"
)

// apiKey is one configured key. Only its SHA-256 digest is compared and
// stored: accounts are identified by the digest, so neither the data file
// nor the overview holds a full key.
type apiKey struct {
	digest  [sha256.Size]byte
	account string // hex of digest
	label   string // short masked form for people
}

func newAPIKey(key string) apiKey {
	d := sha256.Sum256([]byte(key))
	return apiKey{digest: d, account: hex.EncodeToString(d[:]), label: maskKey(key)}
}

// maskKey shows at most the first four characters of a long key, so people
// can tell accounts apart on the overview without it showing the key.
func maskKey(key string) string {
	if len(key) < 12 {
		return "…"
	}
	return key[:4] + "…"
}

// authenticate returns the account of the request's bearer key. It compares
// the digest of the presented key with every configured key in constant
// time, so the answer's timing says nothing about how close a guess was.
func (s *Server) authenticate(r *http.Request) (account string, msg string) {
	h := r.Header.Get("Authorization")
	scheme, key, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || key == "" {
		return "", "missing API key: send Authorization: Bearer <key>"
	}
	d := sha256.Sum256([]byte(key))
	match := -1
	for i := range s.keys {
		if subtle.ConstantTimeCompare(d[:], s.keys[i].digest[:]) == 1 {
			match = i
		}
	}
	if match < 0 {
		return "", "unknown API key"
	}
	return s.keys[match].account, ""
}
