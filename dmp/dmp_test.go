package dmp_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dmp-diy/diy/dmp"
)

func TestResolveType(t *testing.T) {
	tests := []struct {
		name    string
		query   string
		body    string
		want    dmp.CallType
		wantErr bool
	}{
		{"body type wins", "", `{"Type":"ADD_TO_AUDIENCE"}`, dmp.AddToAudience, false},
		{"query only", "REMOVE_FROM_AUDIENCE", `{"Mutations":[]}`, dmp.RemoveFromAudience, false},
		{"both agree ignoring case", "add_to_audience", `{"Type":"ADD_TO_AUDIENCE"}`, dmp.AddToAudience, false},
		{"both differ", "REMOVE_FROM_AUDIENCE", `{"Type":"ADD_TO_AUDIENCE"}`, "", true},
		{"validate with empty body", "VALIDATE", ``, dmp.Validate, false},
		{"validate with whitespace body", "validate", " \n", dmp.Validate, false},
		{"validate in body", "", `{"Type":"VALIDATE"}`, dmp.Validate, false},
		{"empty body, other type", "ADD_TO_AUDIENCE", ``, "", true},
		{"empty body, no type", "", ``, "", true},
		{"no type anywhere", "", `{"Mutations":[]}`, "", true},
		{"null type", "", `{"Type":null}`, "", true},
		{"type not a string", "", `{"Type":7}`, "", true},
		{"not json", "ADD_TO_AUDIENCE", `Type=ADD`, "", true},
		{"json array", "ADD_TO_AUDIENCE", `[1,2]`, "", true},
		{"unknown type kept", "", `{"Type":"DELETE_AUDIENCE"}`, "DELETE_AUDIENCE", false},
		{"type too long", "", `{"Type":"` + strings.Repeat("X", 65) + `"}`, "", true},
		{"type parameter too long", strings.Repeat("X", 65), `{}`, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := dmp.ResolveType(tc.query, []byte(tc.body))
			if tc.wantErr {
				if !errors.Is(err, dmp.ErrMalformed) {
					t.Fatalf("ResolveType(%q, %q) = %q, %v; want ErrMalformed", tc.query, tc.body, got, err)
				}
				assertSentence(t, err)
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ResolveType(%q, %q) = %q, %v; want %q", tc.query, tc.body, got, err, tc.want)
			}
		})
	}
}

// assertSentence checks that an error reads as one sentence for a person.
func assertSentence(t *testing.T, err error) {
	t.Helper()
	msg := err.Error()
	if msg == "" || strings.Contains(msg, "json:") || strings.Contains(msg, "Go value") {
		t.Errorf("error %q is not a readable sentence", msg)
	}
}

func TestDecodeCreateAudience(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    dmp.CreateAudienceCall
		wantErr string
	}{
		{"spec example",
			`{"Type":"CREATE_AUDIENCE","Name":"Test audience","Customer":123,` +
				`"Audience":"a5940e473cea659.356693871497425011"}`,
			dmp.CreateAudienceCall{Name: "Test audience", Customer: "123",
				Audience: "a5940e473cea659.356693871497425011"}, ""},
		{"customer as string, unknown fields", `{"Name":"n","Customer":"0042","Audience":"a",` +
			`"New":{"deep":[1]}}`, dmp.CreateAudienceCall{Name: "n", Customer: "42", Audience: "a"}, ""},
		{"numeric audience kept exactly", `{"Name":"n","Customer":1,"Audience":123456789012345678901}`,
			dmp.CreateAudienceCall{Name: "n", Customer: "1", Audience: "123456789012345678901"}, ""},
		{"missing audience", `{"Name":"n","Customer":1}`, dmp.CreateAudienceCall{}, "Audience"},
		{"missing name", `{"Audience":"a","Customer":1}`, dmp.CreateAudienceCall{}, "Name"},
		{"missing customer", `{"Audience":"a","Name":"n"}`, dmp.CreateAudienceCall{}, "Customer"},
		{"customer not numeric", `{"Audience":"a","Name":"n","Customer":"x1"}`,
			dmp.CreateAudienceCall{}, "Customer"},
		{"name not a string", `{"Audience":"a","Name":5,"Customer":1}`, dmp.CreateAudienceCall{}, "Name"},
		{"not an object", `"x"`, dmp.CreateAudienceCall{}, "JSON object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := dmp.DecodeCreateAudience([]byte(tc.body))
			if tc.wantErr != "" {
				if !errors.Is(err, dmp.ErrMalformed) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("DecodeCreateAudience() = %v, want an error naming %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("DecodeCreateAudience() = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestDecodeMutations(t *testing.T) {
	body := `{"Type":"ADD_TO_AUDIENCE","Extra":{"a":[1,2]},"Mutations":[
	  {"Uuid":"u1","Audience":"A","Customer":123,"Platform":113,"External_user_id":"e1","Later":{"x":"<&>"}},
	  null,
	  {"Audience":"A","Customer":"123","External_user_id":98765432109876543210},
	  {"Customer":123,"External_user_id":"e3"},
	  {"Audience":"A","Customer":123},
	  {"Audience":"","Customer":123,"External_user_id":"e5"},
	  "a string",
	  {"Audience":{},"Customer":1,"External_user_id":"e"},
	  {"Audience":"A","Customer":1.5,"External_user_id":"e"},
	  {"Audience":"A","Customer":"abc","External_user_id":"e"},
	  {"Audience":"A\xff","Customer":1,"External_user_id":"e"},
	  {"Audience":"A","Customer":1,"External_user_id":"bad\xffuser"}
	]}`
	body = strings.ReplaceAll(body, `\xff`, "\xff") // invalid UTF-8, as raw bytes
	muts, err := dmp.DecodeMutations([]byte(body))
	if err != nil {
		t.Fatalf("DecodeMutations() = %v", err)
	}
	wantProblems := []string{"", "null", "", "no Audience", "no External_user_id", "no Audience",
		"not an object", "Audience of the wrong kind", "Customer of the wrong kind",
		"Customer of the wrong kind", "Audience not valid UTF-8", "External_user_id not valid UTF-8"}
	if len(muts) != len(wantProblems) {
		t.Fatalf("DecodeMutations() gave %d mutations, want %d", len(muts), len(wantProblems))
	}
	for i, m := range muts {
		if m.Problem != wantProblems[i] || m.Forwardable() != (wantProblems[i] == "") {
			t.Errorf("mutation %d: Problem %q, Forwardable() %v; want %q", i, m.Problem,
				m.Forwardable(), wantProblems[i])
		}
	}
	if got := muts[2].ExternalUserID; got != "98765432109876543210" {
		t.Errorf("numeric External_user_id = %q, want it exactly as written", got)
	}
	if got := muts[2].Customer; got != "123" {
		t.Errorf("string Customer = %q, want 123", got)
	}
	if !bytes.Contains(muts[0].Raw, []byte(`"Later":{"x":"<&>"}`)) {
		t.Errorf("Raw = %s, want unknown fields byte for byte", muts[0].Raw)
	}
}

func TestDecodeMutationsShapes(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    int
		wantErr bool
	}{
		{"empty list", `{"Mutations":[]}`, 0, false},
		{"null list", `{"Mutations":null}`, 0, false},
		{"absent list", `{"Type":"ADD_TO_AUDIENCE"}`, 0, false},
		{"list as object", `{"Mutations":{"Audience":"A"}}`, 0, true},
		{"mutation as string", `{"Mutations":["A"]}`, 1, false},
		{"Mutations as a string", `{"Mutations":"A"}`, 0, true},
		{"truncated", `{"Mutations":[{"Audience":"A"`, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := dmp.DecodeMutations([]byte(tc.body))
			if tc.wantErr {
				if !errors.Is(err, dmp.ErrMalformed) {
					t.Fatalf("DecodeMutations(%s) = %v, want ErrMalformed", tc.body, err)
				}
				assertSentence(t, err)
				return
			}
			if err != nil || len(got) != tc.want {
				t.Fatalf("DecodeMutations(%s) = %d, %v; want %d", tc.body, len(got), err, tc.want)
			}
		})
	}
}

func mutation(customer int, audience, user string) string {
	return fmt.Sprintf(`{"Uuid":"u-%s","Audience":%q,"Customer":%d,"Platform":113,"External_user_id":%q}`,
		user, audience, customer, user)
}

func TestGroupThreeAudiencesTwoCustomers(t *testing.T) {
	parts := []string{
		mutation(1, "A", "u1"), mutation(2, "A", "u2"), mutation(1, "B", "u3"),
		mutation(1, "A", "u4"), `null`, mutation(2, "C", "u5"), mutation(1, "B", "u6"),
	}
	muts, err := dmp.DecodeMutations([]byte(`{"Mutations":[` + strings.Join(parts, ",") + `]}`))
	if err != nil {
		t.Fatalf("DecodeMutations() = %v", err)
	}
	at := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	b := dmp.Group(dmp.AddToAudience, muts, at)
	if b.Queued != 6 || b.Skipped != 1 {
		t.Errorf("Group() queued %d, skipped %d; want 6, 1", b.Queued, b.Skipped)
	}
	want := []struct {
		key   string
		users []string
	}{{"1/A", []string{"u1", "u4"}}, {"2/A", []string{"u2"}}, {"1/B", []string{"u3", "u6"}},
		{"2/C", []string{"u5"}}}
	if len(b.Messages) != len(want) {
		t.Fatalf("Group() made %d messages, want %d", len(b.Messages), len(want))
	}
	for i, w := range want {
		m := b.Messages[i]
		if m.OrderingKey() != w.key {
			t.Errorf("message %d OrderingKey() = %q, want %q", i, m.OrderingKey(), w.key)
		}
		var users []string
		for _, r := range m.Mutations {
			d := dmp.DecodeMutation(r)
			users = append(users, d.ExternalUserID)
		}
		if fmt.Sprint(users) != fmt.Sprint(w.users) {
			t.Errorf("message %d users = %v, want %v", i, users, w.users)
		}
		if !m.ReceivedAt.Equal(at) || m.Type != dmp.AddToAudience {
			t.Errorf("message %d = %+v, want type and time set", i, m)
		}
	}
}

func TestGroupSplitsLargeGroups(t *testing.T) {
	user := strings.Repeat("x", 200_000)
	var muts []dmp.Mutation
	for i := 0; i < 100; i++ { // about 20 MB for one audience
		muts = append(muts, dmp.Mutation{Customer: "1", Audience: "A", ExternalUserID: "e",
			Raw: json.RawMessage(fmt.Sprintf(`{"n":%d,"pad":%q}`, i, user))})
	}
	b := dmp.Group(dmp.RemoveFromAudience, muts, time.Now())
	if len(b.Messages) < 3 {
		t.Fatalf("Group() made %d messages of ~20 MB, want at least 3", len(b.Messages))
	}
	n := 0
	for _, m := range b.Messages {
		data, err := m.Encode()
		if err != nil {
			t.Fatalf("Encode() = %v", err)
		}
		if len(data) > dmp.MaxMessageBytes {
			t.Errorf("encoded message is %d bytes, over %d", len(data), dmp.MaxMessageBytes)
		}
		for _, r := range m.Mutations { // order is kept across the split
			var v struct{ N int }
			_ = json.Unmarshal(r, &v)
			if v.N != n {
				t.Fatalf("mutation %d found in position %d", v.N, n)
			}
			n++
		}
	}
}

func TestMessageRoundTripKeepsBytes(t *testing.T) {
	raw := json.RawMessage(`{ "Audience" : "A", "Customer":1,"External_user_id":"e",` +
		` "html":"<b>&amp;</b>", "n": 1.50e3 }`)
	m := &dmp.Message{Version: dmp.MessageVersion, Type: dmp.AddToAudience, Customer: "1",
		Audience: "A", ReceivedAt: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC),
		Mutations: []json.RawMessage{raw, raw}}
	data, err := m.Encode()
	if err != nil {
		t.Fatalf("Encode() = %v", err)
	}
	got, err := dmp.DecodeMessage(data)
	if err != nil {
		t.Fatalf("DecodeMessage() = %v", err)
	}
	if !bytes.Equal(got.Mutations[1], raw) {
		t.Errorf("mutation after round trip = %s, want %s", got.Mutations[1], raw)
	}
	if !got.ReceivedAt.Equal(m.ReceivedAt) || got.Customer != "1" || got.Type != dmp.AddToAudience {
		t.Errorf("DecodeMessage() = %+v, want %+v", got, m)
	}
	if a := m.Attributes(); a["type"] != "ADD_TO_AUDIENCE" || a["version"] != "1" || a["audience"] != "A" {
		t.Errorf("Attributes() = %v", a)
	}
}

func TestDecodeMessageRefusesUnknownVersion(t *testing.T) {
	_, err := dmp.DecodeMessage([]byte(`{"version":2,"type":"ADD_TO_AUDIENCE"}`))
	if !errors.Is(err, dmp.ErrUnknownVersion) {
		t.Errorf("DecodeMessage(version 2) = %v, want ErrUnknownVersion", err)
	}
	if _, err := dmp.DecodeMessage([]byte(`not json`)); err == nil {
		t.Errorf("DecodeMessage(not json) = nil, want an error")
	}
}

func TestUnknownCallCarriesBody(t *testing.T) {
	body := []byte("\x00not json at all")
	m := &dmp.Message{Version: 1, Type: "SOMETHING_NEW", Body: body}
	data, err := m.Encode()
	if err != nil {
		t.Fatalf("Encode() = %v", err)
	}
	got, err := dmp.DecodeMessage(data)
	if err != nil || !bytes.Equal(got.Body, body) || got.OrderingKey() != "" {
		t.Errorf("DecodeMessage() = %+v, %v; want the body back and no ordering key", got, err)
	}
}

func TestLongOrderingKeyIsHashed(t *testing.T) {
	long := &dmp.Message{Customer: "1", Audience: strings.Repeat("a", 2000)}
	key := long.OrderingKey()
	if len(key) > dmp.MaxOrderingKeyBytes || !strings.HasPrefix(key, "sha256:") {
		t.Errorf("OrderingKey() of a 2000-byte audience = %q, want a hash within the limit", key)
	}
	if again := (&dmp.Message{Customer: "1", Audience: long.Audience}).OrderingKey(); again != key {
		t.Errorf("OrderingKey() is not stable: %q then %q", key, again)
	}
	if _, ok := long.Attributes()[dmp.AttrAudience]; ok {
		t.Errorf("Attributes() holds an audience over Pub/Sub's 1024-byte attribute limit")
	}
}

func TestUnknownCallBodyIsBounded(t *testing.T) {
	big := bytes.Repeat([]byte("x"), dmp.MaxUnknownBody+10)
	m := dmp.Unknown("NEW", big, time.Now())
	data, err := m.Encode()
	if err != nil {
		t.Fatalf("Encode() = %v", err)
	}
	if !m.Truncated || len(m.Body) != dmp.MaxUnknownBody || len(data) > dmp.MaxMessageBytes {
		t.Errorf("Unknown(%d bytes): truncated %v, kept %d, encoded %d", len(big), m.Truncated,
			len(m.Body), len(data))
	}
	if small := dmp.Unknown("NEW", []byte("{}"), time.Now()); small.Truncated {
		t.Errorf("Unknown(2 bytes) is marked truncated")
	}
}

func TestDeepNesting(t *testing.T) {
	deep := strings.Repeat("[", 5_000_000) + strings.Repeat("]", 5_000_000)
	if _, err := dmp.Parse("ADD_TO_AUDIENCE", []byte(`{"Mutations":`+deep+`}`)); !errors.Is(err, dmp.ErrMalformed) {
		t.Errorf("Parse(5,000,000 levels) = %v, want ErrMalformed", err)
	}
	// The bound is exact, whether or not the body has more brackets than
	// levels; brackets in strings do not count.
	level := func(n int) string { return strings.Repeat("[", n-2) + strings.Repeat("]", n-2) }
	many := strings.Repeat(`{"Audience":"A","Customer":1,"External_user_id":"[[[["},`, 600)
	for _, tc := range []struct {
		name, body string
		ok         bool
	}{
		{"512 levels", `{"Mutations":[` + level(512) + `]}`, true},
		{"513 levels", `{"Mutations":[` + level(513) + `]}`, false},
		{"512 levels among many brackets", `{"Mutations":[` + many + level(512) + `]}`, true},
		{"513 levels among many brackets", `{"Mutations":[` + many + level(513) + `]}`, false},
	} {
		_, err := dmp.Parse("ADD_TO_AUDIENCE", []byte(tc.body))
		if ok := err == nil; ok != tc.ok {
			t.Errorf("Parse(%s) = %v, want accepted %v", tc.name, err, tc.ok)
		}
	}

	// What diy accepts, the forwarder can read back.
	nested := strings.Repeat(`{"x":`, 400) + "1" + strings.Repeat("}", 400)
	body := `{"Mutations":[{"Audience":"A","Customer":1,"External_user_id":"e","n":` + nested + `}]}`
	muts, err := dmp.DecodeMutations([]byte(body))
	if err != nil || len(muts) != 1 || !muts[0].Forwardable() {
		t.Fatalf("DecodeMutations(400 levels) = %+v, %v", muts, err)
	}
	b := dmp.Group(dmp.AddToAudience, muts, time.Now())
	data, err := b.Messages[0].Encode()
	if err != nil {
		t.Fatal(err)
	}
	if m, err := dmp.DecodeMessage(data); err != nil || len(m.Mutations) != 1 {
		t.Errorf("DecodeMessage() of what diy queued = %v, %v", m, err)
	}
}
