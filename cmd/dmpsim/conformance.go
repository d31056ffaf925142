package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/dmp-diy/diy/hmac"
)

// Check is one conformance check: a request and the answer it must get.
type Check struct {
	Name      string
	Req       request
	Body      []byte
	Want      int    // status
	ErrorBody bool   // the answer must be a JSON {"error": "<sentence>"}
	Mentions  string // the error sentence must contain this
}

// CheckResult is a check and what it got.
type CheckResult struct {
	Check
	OK  bool
	Got string // what came back, when it was not what was wanted
}

// conformance holds what the checks of one run share: an audience and
// users whose IDs are unique to the run, so real audiences are untouched.
type conformance struct {
	ep       *Endpoint
	secret   string
	customer int64
	audience SimAudience
	callID   string // the ID to use in calls, once CREATE_AUDIENCE has answered
	users    []User
}

func newConformance(ep *Endpoint, secret string, now time.Time) *conformance {
	nonce := strconv.FormatInt(now.UnixNano(), 10)
	c := &conformance{ep: ep, secret: secret, customer: 101}
	c.audience = SimAudience{Customer: c.customer, DMPID: dmpAudiencePrefix + nonce,
		Name: "dmpsim conformance " + now.UTC().Format(time.RFC3339)}
	c.callID = c.audience.DMPID
	for i := range 3 {
		c.users = append(c.users, User{
			UUID:     uuidFrom(uint64(now.UnixNano()), uint64(i)),
			External: fmt.Sprintf("dmpsim-conformance-%s-%d", nonce, i),
		})
	}
	return c
}

// runConformance runs every check in order, prints one line per check and
// a summary, and fails when any check failed.
func runConformance(ctx context.Context, cfg Config, stdout io.Writer) error {
	ep, err := NewEndpoint(cfg.URL, EndpointOptions{
		Secret: cfg.Secret, BasicUser: cfg.BasicUser, BasicPassword: cfg.BasicPassword,
		Timeout: cfg.Timeout,
	})
	if err != nil {
		return err
	}
	c := newConformance(ep, cfg.Secret, time.Now())
	fmt.Fprintf(stdout, "dmpsim conformance checks against %s (audience %s)\n",
		redactURL(cfg.URL), c.audience.DMPID)
	var failed []string
	total := 0
	// The later checks are built once CREATE_AUDIENCE has answered, so they
	// use the ID it returned.
	for _, stage := range []func() []Check{c.beforeCreate, c.create, c.afterCreate} {
		for _, chk := range stage() {
			res := c.run(ctx, chk)
			printResult(stdout, res)
			total++
			if !res.OK {
				failed = append(failed, chk.Name)
			}
		}
	}
	fmt.Fprintf(stdout, "conformance: %d checks, %d ok, %d failed\n", total,
		total-len(failed), len(failed))
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d conformance checks failed: %s", len(failed), total,
			strings.Join(failed, "; "))
	}
	return nil
}

func printResult(w io.Writer, r CheckResult) {
	if r.OK {
		fmt.Fprintf(w, "ok    %s\n", r.Name)
		return
	}
	fmt.Fprintf(w, "FAIL  %s: want %s, got %s\n", r.Name, r.want(), r.Got)
}

func (r CheckResult) want() string {
	s := strconv.Itoa(r.Want)
	if r.ErrorBody {
		s += ` with a JSON {"error": "..."} body`
	}
	if r.Mentions != "" {
		s += fmt.Sprintf(" naming %s", r.Mentions)
	}
	return s
}

// run sends one check's request, once, and judges the answer.
func (c *conformance) run(ctx context.Context, chk Check) CheckResult {
	res := CheckResult{Check: chk}
	ans, err := c.ep.Send(ctx, chk.Req, chk.Body)
	if ans.Status == 0 {
		res.Got = fmt.Sprintf("no answer (%v)", err)
		return res
	}
	res.Got = fmt.Sprintf("%d %s", ans.Status, quoteBody(ans.Body))
	if ans.Status != chk.Want {
		return res
	}
	if chk.ErrorBody || chk.Mentions != "" {
		msg, ok := jsonError(ans.Body)
		if !ok || !strings.Contains(msg, chk.Mentions) {
			return res
		}
	}
	if chk.Req.typ == callCreate && ans.Status == http.StatusOK {
		if id, ok := createdID(ans.Body); ok {
			c.callID = id
		}
	}
	res.OK = true
	return res
}

// jsonError returns the sentence of a {"error": "<sentence>"} body.
func jsonError(body []byte) (string, bool) {
	var v struct {
		Error *string `json:"error"`
	}
	if json.Unmarshal(body, &v) != nil || v.Error == nil || *v.Error == "" {
		return "", false
	}
	return *v.Error, true
}

func quoteBody(b []byte) string {
	s := oneLine(string(b))
	if s == "" {
		return "with an empty body"
	}
	return "with body " + strconv.Quote(s)
}

// mutation writes one mutation of the run's audience; extra fields are
// added to the object as they are.
func (c *conformance) mutation(u User, customer any, extra string) string {
	cust, _ := json.Marshal(customer)
	return fmt.Sprintf(`{"Uuid":%q,"Audience":%q,"Customer":%s,"Platform":%d,`+
		`"External_user_id":%q%s}`, u.UUID, c.callID, cust, platformID, u.External, extra)
}

func (c *conformance) addBody(muts ...string) []byte {
	return fmt.Appendf(nil, `{"Type":%q,"Mutations":[%s]}`, callAdd, strings.Join(muts, ","))
}

func (c *conformance) beforeCreate() []Check {
	add := c.addBody(c.mutation(c.users[0], c.customer, ""))
	wrong := hmac.Sign([]byte("not-"+c.secret), add)
	return []Check{
		{Name: "GET without credentials -> 200",
			Req: request{method: http.MethodGet, typ: callGet, noParam: true, unsigned: true,
				noAuth: true}, Want: 200},
		{Name: "VALIDATE signed, empty body -> 200", Req: request{typ: callValidate}, Want: 200},
		{Name: "bad signature -> 401 with an error body", Req: request{typ: callAdd,
			signature: wrong}, Body: add, Want: 401, ErrorBody: true},
		{Name: "missing signature -> 401", Req: request{typ: callAdd, unsigned: true},
			Body: add, Want: 401},
	}
}

func (c *conformance) create() []Check {
	return []Check{{Name: "CREATE_AUDIENCE of a new audience -> 200",
		Req: request{typ: callCreate}, Body: encodeCreate(c.audience), Want: 200}}
}

func (c *conformance) afterCreate() []Check {
	u0, u1, u2 := c.users[0], c.users[1], c.users[2]
	unknown := fmt.Appendf(nil, `{"Type":%q,"Batch_id":"b-1","Meta":{"source":{"v":2}},`+
		`"Mutations":[%s],"Trailer":[1,{"x":null}]}`, callAdd,
		c.mutation(u0, c.customer, `,"Segment_meta":{"score":0.5,"tags":["a"]},"Seen_at":17`))
	noName := fmt.Appendf(nil, `{"Type":%q,"Customer":%d,"Audience":%q}`, callCreate,
		c.customer, c.audience.DMPID+"1")
	remove := fmt.Appendf(nil, `{"Type":%q,"Mutations":[%s,%s]}`, callRemove,
		c.mutation(u0, c.customer, ""), c.mutation(u1, c.customer, ""))
	return []Check{
		{Name: "unknown fields at every level -> 200", Req: request{typ: callAdd},
			Body: unknown, Want: 200},
		{Name: "Customer as a string -> 200", Req: request{typ: callAdd},
			Body: c.addBody(c.mutation(u1, strconv.FormatInt(c.customer, 10), "")), Want: 200},
		{Name: "malformed JSON -> 400 with an error body", Req: request{typ: callAdd},
			Body: []byte(`{"Type":"ADD_TO_AUDIENCE","Mutations":[{"Uuid":`), Want: 400,
			ErrorBody: true},
		{Name: "Mutations as an object -> 400", Req: request{typ: callAdd},
			Body: fmt.Appendf(nil, `{"Type":%q,"Mutations":%s}`, callAdd,
				c.mutation(u2, c.customer, "")), Want: 400},
		{Name: "type parameter contradicting the body -> 400",
			Req:  request{typ: callAdd, param: callRemove},
			Body: c.addBody(c.mutation(u2, c.customer, "")), Want: 400},
		{Name: "PUT -> 405", Req: request{method: http.MethodPut, typ: callAdd},
			Body: c.addBody(c.mutation(u2, c.customer, "")), Want: 405},
		{Name: "CREATE_AUDIENCE without Name -> 400 naming Name", Req: request{typ: callCreate},
			Body: noName, Want: 400, ErrorBody: true, Mentions: "Name"},
		{Name: "empty Mutations -> 200", Req: request{typ: callAdd},
			Body: fmt.Appendf(nil, `{"Type":%q,"Mutations":[]}`, callAdd), Want: 200},
		{Name: "unknown Type, signed -> 200", Req: request{typ: "DMPSIM_FUTURE_CALL"},
			Body: fmt.Appendf(nil, `{"Type":"DMPSIM_FUTURE_CALL","Audience":%q,"Customer":%d}`,
				c.callID, c.customer), Want: 200},
		{Name: "REMOVE_FROM_AUDIENCE of the users added -> 200", Req: request{typ: callRemove},
			Body: remove, Want: 200},
	}
}
