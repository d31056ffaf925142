// Package dmp is the DMP's side of the DIY-integration protocol: the calls
// it sends, how their bodies are decoded, and the versioned message that
// carries a group of mutations from the diy endpoint, through Pub/Sub, to
// the forwarding function.
//
// Decoding is tolerant where the protocol says so: unknown fields are
// ignored (and kept byte for byte in queued mutations), Customer and
// Platform may be numbers or numeric strings, and an Audience or
// External_user_id written as a number is kept exactly as written.
// Everything here is a pure function over bytes; nothing does I/O.
package dmp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// CallType names a DMP call. The DMP may add new ones at any time; a value
// outside the constants below is an unknown, not an invalid, call.
type CallType string

// The calls the protocol defines.
const (
	Validate           CallType = "VALIDATE"
	CreateAudience     CallType = "CREATE_AUDIENCE"
	AddToAudience      CallType = "ADD_TO_AUDIENCE"
	RemoveFromAudience CallType = "REMOVE_FROM_AUDIENCE"
)

// Known reports whether t is one of the calls this package understands.
func (t CallType) Known() bool {
	switch t {
	case Validate, CreateAudience, AddToAudience, RemoveFromAudience:
		return true
	}
	return false
}

// IsMutation reports whether t changes audience membership.
func (t CallType) IsMutation() bool {
	return t == AddToAudience || t == RemoveFromAudience
}

// ErrMalformed is wrapped by every error about a body that cannot be
// decoded; its message is a sentence that can be shown to the DMP's user.
var ErrMalformed = errors.New("malformed call")

// MalformedError describes what is wrong with a call in one sentence.
type MalformedError struct{ Reason string }

func (e *MalformedError) Error() string        { return e.Reason }
func (e *MalformedError) Is(target error) bool { return target == ErrMalformed }

func malformed(format string, args ...any) error {
	return &MalformedError{Reason: fmt.Sprintf(format, args...)}
}

// ResolveType decides which call a request is. The signature covers the
// body only, so the body's Type wins; the query parameter is used when the
// body has none. Both present and different (ignoring case) is malformed,
// and so is a call that names no type at all. An empty body is allowed only
// for VALIDATE. Type names are compared and returned in upper case.
func ResolveType(queryType string, body []byte) (CallType, error) {
	query := CallType(strings.ToUpper(strings.TrimSpace(queryType)))
	if len(bytes.TrimSpace(body)) == 0 {
		switch query {
		case "":
			return "", malformed("The call has no type: the body is empty and there is no type parameter.")
		case Validate:
			return Validate, nil
		default:
			return "", malformed("The %s call has an empty body.", query)
		}
	}
	var head struct {
		Type json.RawMessage `json:"Type"`
	}
	if err := json.Unmarshal(body, &head); err != nil {
		return "", malformed("The body is not a JSON object: %s.", jsonReason(err))
	}
	var bodyType string
	if len(head.Type) > 0 && string(head.Type) != "null" {
		if err := json.Unmarshal(head.Type, &bodyType); err != nil {
			return "", malformed("The field Type must be a string.")
		}
	}
	inBody := CallType(strings.ToUpper(strings.TrimSpace(bodyType)))
	switch {
	case inBody == "" && query == "":
		return "", malformed("The call has no type: the body has no Type and there is no type parameter.")
	case inBody == "":
		return query, nil
	case query != "" && query != inBody:
		return "", malformed("The type parameter %q does not match the body's Type %q.", queryType, bodyType)
	}
	return inBody, nil
}

// jsonReason turns a decoding error into words without Go type names.
func jsonReason(err error) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return fmt.Sprintf("invalid JSON at byte %d", syntax.Offset)
	case errors.As(err, &typ):
		if typ.Field != "" {
			return fmt.Sprintf("the field %s has the wrong type (%s)", typ.Field, typ.Value)
		}
		return fmt.Sprintf("found a JSON %s where an object was expected", typ.Value)
	}
	return "invalid JSON"
}
