package pangolin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// maxAnswerBytes bounds the answers the client reads; the largest, a page of
// MaxPageSize long IDs, is about 2.6 MB.
const maxAnswerBytes = 32 << 20

// defaultMaxElapsed is ClientOptions.MaxElapsed when unset.
const defaultMaxElapsed = 30 * time.Second

// ClientOptions configures NewClient. A nil *ClientOptions means defaults.
type ClientOptions struct {
	// HTTPClient sends the requests; nil = a client shared by every Client
	// of this package, with dial, TLS, response-header and per-attempt
	// timeouts.
	HTTPClient *http.Client
	// MaxElapsed bounds one call with all its retries when the caller's
	// context has no deadline; default 30s.
	MaxElapsed time.Duration
}

// Client calls the Pangolin API with one API key. It retries what is safe to
// retry (see the package documentation). A Client is safe for concurrent
// use.
type Client struct {
	base       string
	key        string
	hc         *http.Client
	maxElapsed time.Duration
}

// sharedHTTPClient is the default transport of every Client: one pool of
// connections, and bounds on every phase of an attempt.
var sharedHTTPClient = sync.OnceValue(func() *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Client{
		Timeout: 15 * time.Second, // one attempt, answer body included
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           dialer.DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          100,
			MaxIdleConnsPerHost:   32,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   5 * time.Second,
			ResponseHeaderTimeout: 10 * time.Second,
			ExpectContinueTimeout: time.Second,
		},
		// The API never redirects; a redirect is an answer to report.
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
})

// NewClient returns a client of the API at baseURL (e.g.
// "http://127.0.0.1:8081") using apiKey.
func NewClient(baseURL, apiKey string, opts *ClientOptions) *Client {
	c := &Client{
		base:       strings.TrimRight(baseURL, "/"),
		key:        apiKey,
		hc:         sharedHTTPClient(),
		maxElapsed: defaultMaxElapsed,
	}
	if opts != nil && opts.HTTPClient != nil {
		c.hc = opts.HTTPClient
	}
	if opts != nil && opts.MaxElapsed > 0 {
		c.maxElapsed = opts.MaxElapsed
	}
	return c
}

// WithAPIKey returns a client of the same server and transport using key.
func (c *Client) WithAPIKey(key string) *Client {
	cp := *c
	cp.key = key
	return &cp
}

// request is one API call.
type request struct {
	method string
	path   string     // escaped
	query  url.Values // optional
	body   any        // JSON; nil = none
	out    any        // decoded from a 2xx answer; nil = ignored
}

// do sends req, retrying as the package documentation says, and returns the
// status of the successful answer.
func (c *Client) do(ctx context.Context, req request) (int, error) {
	var body []byte
	if req.body != nil {
		var err error
		if body, err = json.Marshal(req.body); err != nil {
			return 0, fmt.Errorf("encode request: %w", err)
		}
	}
	u := c.base + req.path
	if len(req.query) > 0 {
		u += "?" + req.query.Encode()
	}
	var status int
	err := retry(ctx, c.maxElapsed, func(ctx context.Context) error {
		var err error
		status, err = c.attempt(ctx, req.method, u, body, req.out)
		return err
	})
	return status, err
}

// attempt sends one request and reads its answer.
func (c *Client) attempt(ctx context.Context, method, u string, body []byte, out any) (
	int, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	hreq, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return 0, fmt.Errorf("build request: %w", err)
	}
	hreq.Header.Set("Authorization", "Bearer "+c.key)
	hreq.Header.Set("Accept", "application/json")
	hreq.Header.Set("User-Agent", "pangolin-go-client")
	if body != nil {
		hreq.Header.Set("Content-Type", "application/json")
	}

	resp, err := c.hc.Do(hreq)
	if err != nil {
		return 0, newTransportError(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return 0, newTransportError(err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, parseAPIError(resp, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("decode %d answer: %w", resp.StatusCode, err)
		}
	}
	return resp.StatusCode, nil
}

// parseAPIError builds the *APIError of a non-2xx answer.
func parseAPIError(resp *http.Response, data []byte) *APIError {
	e := &APIError{Status: resp.StatusCode}
	var eb errorBody
	if json.Unmarshal(data, &eb) == nil && eb.Error.Code != "" {
		e.Code, e.Message = eb.Error.Code, eb.Error.Message
	} else {
		e.Message = strings.TrimSpace(string(data[:min(len(data), 200)]))
	}
	if e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
	}
	if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs > 0 {
		e.RetryAfter = time.Duration(secs) * time.Second
	}
	return e
}

// transportError is a failure to reach the server or read its answer. It
// matches ErrUnavailable.
type transportError struct {
	err error
}

// newTransportError keeps the cause of err but drops the request URL of a
// *url.Error: a path can hold a user ID, and errors end up in logs.
func newTransportError(err error) *transportError {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return &transportError{err: err}
}

func (e *transportError) Error() string   { return "transport: " + e.err.Error() }
func (e *transportError) Unwrap() []error { return []error{ErrUnavailable, e.err} }

// Timeout reports whether the attempt timed out.
func (e *transportError) Timeout() bool {
	var t interface{ Timeout() bool }
	return errors.As(e.err, &t) && t.Timeout()
}
