package main

import (
	"encoding/json"
	"fmt"
)

// wireMutation is one mutation as the DMP writes it.
type wireMutation struct {
	UUID           string `json:"Uuid"`
	Audience       string `json:"Audience"`
	Customer       int64  `json:"Customer"`
	Platform       int    `json:"Platform"`
	ExternalUserID string `json:"External_user_id"`
}

type mutationsBody struct {
	Type      string         `json:"Type"`
	Mutations []wireMutation `json:"Mutations"`
}

type createBody struct {
	Type     string `json:"Type"`
	Name     string `json:"Name"`
	Customer int64  `json:"Customer"`
	Audience string `json:"Audience"`
}

// LiveAudience is an audience the endpoint knows, with the ID the DMP
// uses for it in calls: the endpoint's own ID when CREATE_AUDIENCE
// returned one, else the DMP's.
type LiveAudience struct {
	SimAudience
	CallID string
}

// encodeBatch writes the request body of b.
func encodeBatch(b Batch, auds []LiveAudience) ([]byte, error) {
	body := mutationsBody{Type: b.Kind.CallType(),
		Mutations: make([]wireMutation, len(b.Mutations))}
	for i, m := range b.Mutations {
		a := auds[m.Audience]
		body.Mutations[i] = wireMutation{
			UUID: m.User.UUID, Audience: a.CallID, Customer: a.Customer,
			Platform: platformID, ExternalUserID: m.User.External,
		}
	}
	data, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encoding a %s body: %w", body.Type, err)
	}
	return data, nil
}

// encodeCreate writes the CREATE_AUDIENCE body of a.
func encodeCreate(a SimAudience) []byte {
	data, _ := json.Marshal(createBody{
		Type: callCreate, Name: a.Name, Customer: a.Customer, Audience: a.DMPID,
	}) // cannot fail: strings and a number
	return data
}

// createdID reads the ID a CREATE_AUDIENCE answer returns, {"id": "..."};
// a number is taken as written. False when the answer has none.
func createdID(body []byte) (string, bool) {
	var v struct {
		ID json.RawMessage `json:"id"`
	}
	if json.Unmarshal(body, &v) != nil || len(v.ID) == 0 || string(v.ID) == "null" {
		return "", false
	}
	var s string
	if json.Unmarshal(v.ID, &s) == nil {
		return s, s != ""
	}
	var n json.Number
	if json.Unmarshal(v.ID, &n) == nil {
		return n.String(), true
	}
	return "", false
}

// skippedCount reads {"skipped": n} from a mutation answer; 0 when absent.
func skippedCount(body []byte) int {
	var v struct {
		Skipped int `json:"skipped"`
	}
	_ = json.Unmarshal(body, &v) // an answer needs no body
	return v.Skipped
}
