package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/dmp-diy/diy/hmac"
)

// maxAnswerBytes bounds how much of an answer is read.
const maxAnswerBytes = 1 << 20

// Endpoint sends DMP calls to one DIY endpoint, signed and authenticated
// as the DMP does, and records every attempt in its Stats. Safe for
// concurrent use.
type Endpoint struct {
	url      *url.URL
	secret   []byte
	user     string
	password string
	hc       *http.Client
	stats    *Stats        // nil: attempts are not recorded
	retryMax time.Duration // budget of one call with its retries
	retryMin time.Duration // first wait before a retry
}

// EndpointOptions configure NewEndpoint.
type EndpointOptions struct {
	Secret        string
	BasicUser     string // Basic Auth is sent when user and password are set
	BasicPassword string
	Timeout       time.Duration // per attempt
	Conns         int           // idle connections kept
	Stats         *Stats
	RetryMax      time.Duration // how long a call is retried; default 2m
	RetryMin      time.Duration // first wait before a retry, doubling to 5s; default 100ms
}

// NewEndpoint returns an Endpoint of rawURL.
func NewEndpoint(rawURL string, o EndpointOptions) (*Endpoint, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("endpoint URL %q is not an http(s) URL", redactURL(rawURL))
	}
	if o.RetryMax <= 0 {
		o.RetryMax = 2 * time.Minute
	}
	if o.RetryMin <= 0 {
		o.RetryMin = 100 * time.Millisecond
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = max(o.Conns, 2)
	return &Endpoint{
		url: u, secret: []byte(o.Secret), user: o.BasicUser, password: o.BasicPassword,
		stats: o.Stats, retryMax: o.RetryMax, retryMin: o.RetryMin,
		hc: &http.Client{
			Timeout: o.Timeout, Transport: tr,
			// A redirect is an answer to report, not to follow.
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
	}, nil
}

// redactURL hides a password written into a URL.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// Answer is the endpoint's answer to one attempt.
type Answer struct {
	Status int
	Header http.Header
	Body   []byte
}

// StatusError is an answer other than 200 OK.
type StatusError struct {
	Type    string // the call
	Status  int
	Message string // the body's "error", or the body itself, as the DMP shows it
}

func (e *StatusError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("%s answered %d", e.Type, e.Status)
	}
	return fmt.Sprintf("%s answered %d: %s", e.Type, e.Status, e.Message)
}

// retryable reports whether the DMP would send a call again after err: a
// server error or no answer at all.
func retryable(err error) bool {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Status >= 500
	}
	return err != nil && !errors.Is(err, context.Canceled)
}

// request is one attempt's shape. The zero value is a signed, authenticated
// POST with the type parameter.
type request struct {
	method    string // default POST
	typ       string // the call type, sent as ?type= unless noParam
	param     string // a type parameter other than typ
	noParam   bool
	signature string // an X-HMAC other than the right one
	unsigned  bool   // no X-HMAC at all
	noAuth    bool   // no Basic Auth
}

// Call sends a signed POST of body as call type typ (GET when typ is
// callGet), retrying server errors and network failures with backoff for
// up to the retry budget. It returns the 200 answer, or the last failure.
func (e *Endpoint) Call(ctx context.Context, typ string, body []byte) (Answer, error) {
	return e.CallWithin(ctx, typ, body, e.retryMax)
}

// CallWithin is Call with its own retry budget.
func (e *Endpoint) CallWithin(ctx context.Context, typ string, body []byte,
	budget time.Duration) (Answer, error) {
	req := request{typ: typ}
	if typ == callGet {
		req = request{method: http.MethodGet, typ: typ, noParam: true, unsigned: true}
	}
	op := func() (Answer, error) {
		a, err := e.Send(ctx, req, body)
		if err != nil && !retryable(err) {
			return a, backoff.Permanent(err)
		}
		return a, err
	}
	return backoff.Retry(ctx, op,
		backoff.WithBackOff(newBackOff(e.retryMin)),
		backoff.WithMaxElapsedTime(budget),
		backoff.WithNotify(func(error, time.Duration) { e.stats.retry(typ) }))
}

// newBackOff waits from first, doubling up to 5s, randomized by half.
func newBackOff(first time.Duration) *backoff.ExponentialBackOff {
	b := &backoff.ExponentialBackOff{
		InitialInterval: first, RandomizationFactor: 0.5,
		Multiplier: 2, MaxInterval: 5 * time.Second,
	}
	b.Reset()
	return b
}

// Send makes one attempt and records it. An answer other than 200 is
// returned together with a *StatusError.
func (e *Endpoint) Send(ctx context.Context, r request, body []byte) (Answer, error) {
	req, err := e.newRequest(ctx, r, body)
	if err != nil {
		return Answer{}, err
	}
	start := time.Now()
	res, err := e.hc.Do(req)
	if err != nil {
		if ctx.Err() == nil { // an attempt the run itself cut short is not the endpoint's
			e.stats.record(r.typ, statusNetError, time.Since(start))
		}
		return Answer{}, fmt.Errorf("%s: %w", r.typ, scrub(err))
	}
	data, err := io.ReadAll(io.LimitReader(res.Body, maxAnswerBytes))
	res.Body.Close()
	took := time.Since(start)
	if err != nil {
		e.stats.record(r.typ, statusNetError, took)
		return Answer{}, fmt.Errorf("%s: reading the answer: %w", r.typ, err)
	}
	e.stats.record(r.typ, res.StatusCode, took)
	a := Answer{Status: res.StatusCode, Header: res.Header, Body: data}
	if a.Status != http.StatusOK {
		return a, &StatusError{Type: r.typ, Status: a.Status, Message: errorMessage(data)}
	}
	return a, nil
}

func (e *Endpoint) newRequest(ctx context.Context, r request, body []byte) (*http.Request, error) {
	u := *e.url
	if !r.noParam {
		q := u.Query()
		q.Set("type", r.typ)
		if r.param != "" {
			q.Set("type", r.param)
		}
		u.RawQuery = q.Encode()
	}
	method := r.method
	if method == "" {
		method = http.MethodPost
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%s: building the request: %w", r.typ, err)
	}
	req.Header.Set("User-Agent", "dmpsim")
	if method != http.MethodGet {
		req.Header.Set("Content-Type", "application/json")
	}
	switch {
	case r.signature != "":
		req.Header.Set("X-HMAC", r.signature)
	case !r.unsigned:
		req.Header.Set("X-HMAC", hmac.Sign(e.secret, body))
	}
	if !r.noAuth && e.user != "" && e.password != "" {
		req.SetBasicAuth(e.user, e.password)
	}
	return req, nil
}

// scrub keeps the URL's password out of a transport error.
func scrub(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s %s: %w", ue.Op, redactURL(ue.URL), ue.Err)
	}
	return err
}

// errorMessage is what the DMP shows of a failed answer: the JSON key
// "error" of the body or, when the body is not JSON, the body itself
// (shortened, on one line).
func errorMessage(body []byte) string {
	var v struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &v) == nil && len(v.Error) > 0 {
		var s string
		if json.Unmarshal(v.Error, &s) == nil {
			return oneLine(s)
		}
		return oneLine(string(v.Error))
	}
	return oneLine(string(body))
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

func (s *Stats) record(typ string, status int, took time.Duration) {
	if s != nil {
		s.Record(typ, status, took)
	}
}

func (s *Stats) retry(typ string) {
	if s != nil {
		s.Retry(typ)
	}
}
