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

	"github.com/tidwall/gjson"
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

// MaxTypeBytes bounds a call type's name, so that an unknown type still
// fits a log line and a Pub/Sub attribute.
const MaxTypeBytes = 64

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

// Call is a DMP call whose type is known and whose body has been checked
// to be a JSON object (or to be empty, for VALIDATE). Its methods decode
// the rest without reading the body again.
type Call struct {
	Type   CallType
	fields topFields
	body   []byte // the fields' offsets index it
}

// topFields are the top-level members a call may use.
type topFields struct {
	typ, mutations, name, customer, audience gjson.Result
}

// Parse decides which call a request is. The signature covers the body
// only, so the body's Type wins; the query parameter is used when the body
// has none. Both present and different (ignoring case) is malformed, and
// so is a call that names no type at all. An empty body is allowed only
// for VALIDATE. Type names are compared and returned in upper case.
func Parse(queryType string, body []byte) (*Call, error) {
	query := CallType(strings.ToUpper(strings.TrimSpace(queryType)))
	if len(bytes.TrimSpace(body)) == 0 {
		switch query {
		case "":
			return nil, malformed("The call has no type: the body is empty and there is no type parameter.")
		case Validate:
			return &Call{Type: Validate}, nil
		default:
			return nil, malformed("The %s call has an empty body.", query)
		}
	}
	f, err := parseTop(body)
	if err != nil {
		return nil, err
	}
	var bodyType string
	switch f.typ.Type {
	case gjson.Null:
	case gjson.String:
		bodyType = f.typ.Str
	default:
		return nil, malformed("The field Type must be a string.")
	}
	if len(bodyType) > MaxTypeBytes || len(queryType) > MaxTypeBytes {
		return nil, malformed("The call type is longer than %d characters.", MaxTypeBytes)
	}
	inBody := CallType(strings.ToUpper(strings.TrimSpace(bodyType)))
	switch {
	case inBody == "" && query == "":
		return nil, malformed("The call has no type: the body has no Type and there is no type parameter.")
	case inBody == "":
		inBody = query
	case query != "" && query != inBody:
		return nil, malformed("The type parameter %q does not match the body's Type %q.", queryType, bodyType)
	}
	return &Call{Type: inBody, fields: f, body: body}, nil
}

// ResolveType is Parse for callers that need only the type.
func ResolveType(queryType string, body []byte) (CallType, error) {
	c, err := Parse(queryType, body)
	if err != nil {
		return "", err
	}
	return c.Type, nil
}

// parseTop checks that body is valid JSON holding an object and picks out
// the members calls use, in one pass. Names are compared without regard
// to case, as encoding/json does; the last of duplicates wins. A missing
// member is a Result of type Null.
func parseTop(body []byte) (topFields, error) {
	var f topFields
	if depth(body) > MaxDepth {
		return f, malformed("The body is nested deeper than %d levels.", MaxDepth)
	}
	if !gjson.ValidBytes(body) {
		return f, malformed("The body is not valid JSON: %s.", jsonReason(body))
	}
	root := gjson.ParseBytes(body)
	if !root.IsObject() {
		return f, malformed("The body is not a JSON object.")
	}
	root.ForEach(func(k, v gjson.Result) bool {
		switch {
		case strings.EqualFold(k.Str, "Type"):
			f.typ = v
		case strings.EqualFold(k.Str, "Mutations"):
			f.mutations = v
		case strings.EqualFold(k.Str, "Name"):
			f.name = v
		case strings.EqualFold(k.Str, "Customer"):
			f.customer = v
		case strings.EqualFold(k.Str, "Audience"):
			f.audience = v
		}
		return true
	})
	return f, nil
}

// MaxDepth bounds how deeply a body's arrays and objects may nest. The
// parser recurses once per level, so the bound keeps a hostile body from
// exhausting the stack; DMP calls nest three levels.
const MaxDepth = 512

// depth returns the deepest nesting of arrays and objects in a JSON text,
// skipping strings, or a lower bound above MaxDepth once it is deeper than
// that. It does not validate. A text with no more than MaxDepth brackets
// cannot nest deeper, which two vectorised counts tell without the walk.
func depth(b []byte) int {
	if bytes.Count(b, []byte{'{'})+bytes.Count(b, []byte{'['}) <= MaxDepth {
		return 0
	}
	d, most, inString := 0, 0, false
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case inString:
		case c == '{' || c == '[':
			d++
			most = max(most, d)
		case c == '}' || c == ']':
			d--
		}
	}
	return most
}

// jsonReason says where a body stops being valid JSON. It runs on the
// error path only.
func jsonReason(body []byte) string {
	var v any
	var syntax *json.SyntaxError
	if err := json.Unmarshal(body, &v); errors.As(err, &syntax) {
		return fmt.Sprintf("invalid JSON at byte %d", syntax.Offset)
	}
	return "invalid JSON"
}
