package dmp

import (
	"encoding/json"
	"strings"
	"unicode/utf8"

	"github.com/tidwall/gjson"
)

// CreateAudienceCall is the body of a CREATE_AUDIENCE call.
type CreateAudienceCall struct {
	Name     string
	Customer string // decimal digits
	Audience string // the DMP's audience ID
}

// DecodeCreateAudience decodes a CREATE_AUDIENCE body. Audience and Name
// are required, and the error names the one that is missing.
func DecodeCreateAudience(body []byte) (CreateAudienceCall, error) {
	f, err := parseTop(body)
	if err != nil {
		return CreateAudienceCall{}, err
	}
	return (&Call{fields: f}).CreateAudience()
}

// CreateAudience decodes the call as a CREATE_AUDIENCE; see
// DecodeCreateAudience.
func (c *Call) CreateAudience() (CreateAudienceCall, error) {
	var call CreateAudienceCall
	var err error
	if call.Audience, err = idField("Audience", c.fields.audience); err != nil {
		return call, err
	}
	if call.Audience == "" {
		return call, malformed("The field Audience is missing.")
	}
	if !utf8.ValidString(call.Audience) {
		return call, malformed("The field Audience is not valid UTF-8.")
	}
	if call.Name, err = stringField("Name", c.fields.name); err != nil {
		return call, err
	}
	if call.Name == "" {
		return call, malformed("The field Name is missing.")
	}
	if !utf8.ValidString(call.Name) {
		return call, malformed("The field Name is not valid UTF-8.")
	}
	if call.Customer, err = numberField("Customer", c.fields.customer); err != nil {
		return call, err
	}
	if call.Customer == "" {
		return call, malformed("The field Customer is missing.")
	}
	return call, nil
}

// Mutation is one user's change, as decoded from an ADD_TO_AUDIENCE or
// REMOVE_FROM_AUDIENCE call. Raw is the mutation object exactly as the DMP
// sent it, unknown fields included.
type Mutation struct {
	Customer       string // decimal digits
	Audience       string
	ExternalUserID string
	Raw            json.RawMessage
	// Problem says why the mutation cannot be forwarded, in a few words
	// that name no user; "" when it can.
	Problem string
}

// Forwardable reports whether the mutation names everything the platform
// needs, well formed: a customer, an audience and the user's ID on the
// platform.
func (m Mutation) Forwardable() bool { return m.Problem == "" }

// DecodeMutations decodes the Mutations list of an ADD_TO_AUDIENCE or
// REMOVE_FROM_AUDIENCE body; an absent, empty or null list is no
// mutations. A body of the wrong shape (not an object, Mutations not a
// list) is a *MalformedError. An entry that cannot be forwarded (null, not
// an object, a field missing or of the wrong kind) does not fail the call:
// it comes back with its Problem set, for the caller to skip and count.
func DecodeMutations(body []byte) ([]Mutation, error) {
	f, err := parseTop(body)
	if err != nil {
		return nil, err
	}
	return (&Call{fields: f}).Mutations()
}

// Mutations decodes the call's Mutations list; see DecodeMutations.
func (c *Call) Mutations() ([]Mutation, error) {
	list := c.fields.mutations
	switch {
	case list.Type == gjson.Null:
		return nil, nil
	case !list.IsArray():
		return nil, malformed("The field Mutations must be a list.")
	}
	// Room for one mutation per object in the list: nested objects only
	// make it too large.
	out := make([]Mutation, 0, strings.Count(list.Raw, "{"))
	list.ForEach(func(_, v gjson.Result) bool {
		out = append(out, decodeMutation(v, c.rawOf(v)))
		return true
	})
	return out, nil
}

// DecodeMutation decodes one mutation object, as DecodeMutations does an
// entry of its list. The fields the platform does not need (Uuid,
// Platform, and any field the DMP adds later) are not checked; they stay
// in Raw.
func DecodeMutation(raw json.RawMessage) Mutation {
	if depth(raw) > MaxDepth || !gjson.ValidBytes(raw) {
		return Mutation{Raw: raw, Problem: "not valid JSON"}
	}
	return decodeMutation(gjson.ParseBytes(raw), raw)
}

// rawOf returns v's bytes as the body holds them: a slice of the body
// where gjson gives v's offset (its bounds are checked), else a copy.
func (c *Call) rawOf(v gjson.Result) json.RawMessage {
	end := v.Index + len(v.Raw)
	if v.Index > 0 && len(v.Raw) > 0 && end <= len(c.body) &&
		c.body[v.Index] == v.Raw[0] && c.body[end-1] == v.Raw[len(v.Raw)-1] {
		return c.body[v.Index:end:end]
	}
	return json.RawMessage(v.Raw)
}

// decodeMutation decodes v, whose bytes are raw.
func decodeMutation(v gjson.Result, raw json.RawMessage) Mutation {
	switch {
	case v.Type == gjson.Null:
		return Mutation{Problem: "null"}
	case !v.IsObject():
		return Mutation{Raw: raw, Problem: "not an object"}
	}
	m := Mutation{Raw: raw}
	var customer, audience, user gjson.Result
	v.ForEach(func(k, val gjson.Result) bool {
		switch {
		case strings.EqualFold(k.Str, "Customer"):
			customer = val
		case strings.EqualFold(k.Str, "Audience"):
			audience = val
		case strings.EqualFold(k.Str, "External_user_id"):
			user = val
		}
		return true
	})
	var errC, errA, errU error
	m.Customer, errC = numberField("Customer", customer)
	m.Audience, errA = idField("Audience", audience)
	m.ExternalUserID, errU = idField("External_user_id", user)
	m.Problem = firstProblem("Customer", m.Customer, errC)
	if m.Problem == "" {
		m.Problem = firstProblem("Audience", m.Audience, errA)
	}
	if m.Problem == "" {
		m.Problem = firstProblem("External_user_id", m.ExternalUserID, errU)
	}
	return m
}

// firstProblem names what keeps a decoded field from being forwarded.
func firstProblem(name, value string, err error) string {
	switch {
	case err != nil:
		return name + " of the wrong kind"
	case value == "":
		return "no " + name
	case !utf8.ValidString(value):
		return name + " not valid UTF-8"
	}
	return ""
}

// stringField decodes a JSON string; absent or null is "".
func stringField(name string, r gjson.Result) (string, error) {
	switch r.Type {
	case gjson.Null:
		return "", nil
	case gjson.String:
		return r.Str, nil
	}
	return "", malformed("The field %s must be a string.", name)
}

// idField decodes an identifier written as a string or as a number; a
// number is kept exactly as written, so no precision is lost.
func idField(name string, r gjson.Result) (string, error) {
	switch r.Type {
	case gjson.Null:
		return "", nil
	case gjson.String:
		return r.Str, nil
	case gjson.Number:
		return r.Raw, nil
	}
	return "", malformed("The field %s must be a string or a number.", name)
}

// numberField decodes a non-negative integer written as a JSON number or
// as a string of decimal digits, and returns its digits.
func numberField(name string, r gjson.Result) (string, error) {
	s, err := idField(name, r)
	if err != nil || s == "" {
		return "", err
	}
	if !allDigits(s) {
		return "", malformed("The field %s must be a whole number, or a string of digits.", name)
	}
	return canonicalNumber(s), nil
}

func allDigits(s string) bool {
	if len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// canonicalNumber strips leading zeros so "0123" and 123 name the same
// customer.
func canonicalNumber(digits string) string {
	if t := strings.TrimLeft(digits, "0"); t != "" {
		return t
	}
	return "0"
}
