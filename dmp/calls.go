package dmp

import (
	"encoding/json"
	"strings"
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
	var raw struct {
		Name     json.RawMessage `json:"Name"`
		Customer json.RawMessage `json:"Customer"`
		Audience json.RawMessage `json:"Audience"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return CreateAudienceCall{}, malformed("The body is not a JSON object: %s.", jsonReason(err))
	}
	var call CreateAudienceCall
	var err error
	if call.Audience, err = idField("Audience", raw.Audience); err != nil {
		return call, err
	}
	if call.Audience == "" {
		return call, malformed("The field Audience is missing.")
	}
	if call.Name, err = stringField("Name", raw.Name); err != nil {
		return call, err
	}
	if call.Name == "" {
		return call, malformed("The field Name is missing.")
	}
	if call.Customer, err = numberField("Customer", raw.Customer); err != nil {
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
}

// Forwardable reports whether the mutation names everything the platform
// needs: a customer, an audience and the user's ID on the platform.
func (m Mutation) Forwardable() bool {
	return m.Customer != "" && m.Audience != "" && m.ExternalUserID != ""
}

// DecodeMutations decodes the Mutations list of an ADD_TO_AUDIENCE or
// REMOVE_FROM_AUDIENCE body. A null entry becomes a zero Mutation (not
// forwardable) so that the caller can count it; an absent, empty or null
// list is no mutations. A body of the wrong shape is a *MalformedError.
func DecodeMutations(body []byte) ([]Mutation, error) {
	var raw struct {
		Mutations []json.RawMessage `json:"Mutations"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, malformed("The body is not a valid mutation call: %s.", jsonReason(err))
	}
	out := make([]Mutation, len(raw.Mutations))
	for i, r := range raw.Mutations {
		m, err := DecodeMutation(r)
		if err != nil {
			return nil, malformed("Mutation %d: %s", i, err.Error())
		}
		out[i] = m
	}
	return out, nil
}

// DecodeMutation decodes one mutation object; null gives a zero Mutation.
// The fields the platform does not need (Uuid, Platform, and any field
// the DMP adds later) are not checked; they stay in Raw.
func DecodeMutation(r json.RawMessage) (Mutation, error) {
	if string(r) == "null" {
		return Mutation{}, nil
	}
	var f struct {
		Customer       json.RawMessage `json:"Customer"`
		Audience       json.RawMessage `json:"Audience"`
		ExternalUserID json.RawMessage `json:"External_user_id"`
	}
	if err := json.Unmarshal(r, &f); err != nil {
		return Mutation{}, malformed("the mutation is not a JSON object.")
	}
	m := Mutation{Raw: r}
	var err error
	if m.Customer, err = numberField("Customer", f.Customer); err != nil {
		return m, err
	}
	if m.Audience, err = idField("Audience", f.Audience); err != nil {
		return m, err
	}
	if m.ExternalUserID, err = idField("External_user_id", f.ExternalUserID); err != nil {
		return m, err
	}
	return m, nil
}

// stringField decodes a JSON string; absent or null is "".
func stringField(name string, r json.RawMessage) (string, error) {
	if len(r) == 0 || string(r) == "null" {
		return "", nil
	}
	var s string
	if r[0] != '"' || json.Unmarshal(r, &s) != nil {
		return "", malformed("The field %s must be a string.", name)
	}
	return s, nil
}

// idField decodes an identifier written as a string or as a number; a
// number is kept exactly as written, so no precision is lost.
func idField(name string, r json.RawMessage) (string, error) {
	if len(r) > 0 && isNumberStart(r[0]) {
		return string(r), nil
	}
	s, err := stringField(name, r)
	if err != nil {
		return "", malformed("The field %s must be a string or a number.", name)
	}
	return s, nil
}

// numberField decodes a non-negative integer written as a JSON number or
// as a string of decimal digits, and returns its digits.
func numberField(name string, r json.RawMessage) (string, error) {
	s, err := idField(name, r)
	if err != nil || s == "" {
		return "", err
	}
	if !allDigits(s) {
		return "", malformed("The field %s must be a whole number, or a string of digits.", name)
	}
	return canonicalNumber(s), nil
}

func isNumberStart(c byte) bool { return c == '-' || (c >= '0' && c <= '9') }

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
