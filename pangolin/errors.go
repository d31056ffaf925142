package pangolin

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Errors callers branch on with errors.Is. Every *APIError matches the one
// that fits its status; a server that cannot be reached also matches
// ErrUnavailable.
var (
	// ErrNotFound: no such audience in the account (404), or no such member.
	ErrNotFound = errors.New("pangolin: not found")
	// ErrUnauthenticated: the API key is missing or unknown (401).
	ErrUnauthenticated = errors.New("pangolin: unauthenticated")
	// ErrInvalidArgument: the request was malformed or had bad IDs (400).
	ErrInvalidArgument = errors.New("pangolin: invalid argument")
	// ErrRateLimited: the account is over its request rate (429).
	ErrRateLimited = errors.New("pangolin: rate limited")
	// ErrUnavailable: server trouble (500, 502, 503, 504) or the server
	// could not be reached; retrying later is safe.
	ErrUnavailable = errors.New("pangolin: unavailable")
	// ErrTooLarge: more IDs or bytes in one call than allowed (413).
	ErrTooLarge = errors.New("pangolin: too large")
)

// Error codes of the API's error bodies.
const (
	codeInvalidArgument = "invalid_argument"
	codeUnauthenticated = "unauthenticated"
	codeNotFound        = "not_found"
	codeTooLarge        = "too_large"
	codeRateLimited     = "rate_limited"
	codeInternal        = "internal"
	codeUnavailable     = "unavailable"
	codeMethod          = "method_not_allowed"
)

// APIError is an error answer from the server. Use errors.As to read it, or
// errors.Is with the sentinels above.
type APIError struct {
	Status     int           // HTTP status
	Code       string        // code from the error body, e.g. "not_found"
	Message    string        // the server's message
	RetryAfter time.Duration // from the Retry-After header of a 429; 0 if none
}

// Error describes the answer.
func (e *APIError) Error() string {
	code := e.Code
	if code == "" {
		code = http.StatusText(e.Status)
	}
	return fmt.Sprintf("pangolin: %d %s: %s", e.Status, code, e.Message)
}

// Is matches the sentinel error for the status.
func (e *APIError) Is(target error) bool {
	return target != nil && sentinelFor(e.Status) == target
}

// sentinelFor maps an HTTP status to the sentinel error callers test for.
func sentinelFor(status int) error {
	switch status {
	case http.StatusBadRequest:
		return ErrInvalidArgument
	case http.StatusUnauthorized:
		return ErrUnauthenticated
	case http.StatusNotFound:
		return ErrNotFound
	case http.StatusRequestEntityTooLarge:
		return ErrTooLarge
	case http.StatusTooManyRequests:
		return ErrRateLimited
	case http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return ErrUnavailable
	}
	return nil
}

// errorBody is the JSON body of every error answer.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}
