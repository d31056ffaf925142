package pangolin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Request body limits. A batchUpdate of MaxIDsPerUpdate IDs of
// MaxUserIDBytes each is about 2.6 MB of JSON; the limit leaves room for
// escaped characters.
const (
	maxCreateBody = 64 << 10
	maxUpdateBody = 8 << 20
)

// routes builds the request router, wrapped in the request log and panic
// recovery.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.handleOverview)
	mux.HandleFunc("GET /healthz", handleHealth)
	mux.Handle("POST /v1/audiences", s.api(s.handleCreate))
	mux.Handle("GET /v1/audiences", s.api(s.handleList))
	mux.Handle("GET /v1/audiences/{id}", s.api(s.handleGet))
	mux.Handle("POST /v1/audiences/{id}/members:batchUpdate", s.api(s.handleBatchUpdate))
	mux.Handle("GET /v1/audiences/{id}/members", s.api(s.handleListMembers))
	mux.Handle("GET /v1/audiences/{id}/members/{user_id}", s.api(s.handleIsMember))

	// Answer other methods on known paths, and unknown paths, with JSON
	// errors rather than the router's plain text.
	for _, p := range []string{"/healthz", "/v1/audiences", "/v1/audiences/{id}",
		"/v1/audiences/{id}/members:batchUpdate", "/v1/audiences/{id}/members",
		"/v1/audiences/{id}/members/{user_id}"} {
		mux.HandleFunc(p, handleMethodNotAllowed)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, codeNotFound, "no such endpoint")
	})
	return s.logRequests(s.recoverPanics(mux))
}

// apiHandler handles an authenticated API call of one account.
type apiHandler func(w http.ResponseWriter, r *http.Request, account string)

// api authenticates the call, then applies the injected faults.
func (s *Server) api(h apiHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		account, msg := s.authenticate(r)
		if account == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="pangolin"`)
			writeError(w, http.StatusUnauthorized, codeUnauthenticated, msg)
			return
		}

		retryAfter, fail := s.faults.admit(r.Context(), account)
		if retryAfter > 0 {
			secs := int(retryAfter / time.Second)
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			writeError(w, http.StatusTooManyRequests, codeRateLimited,
				fmt.Sprintf("rate limit exceeded: retry after %d s", secs))
			return
		}
		if fail {
			writeError(w, http.StatusServiceUnavailable, codeUnavailable,
				"the service is temporarily unavailable: retry later")
			return
		}
		h(w, r, account)
	})
}

func handleHealth(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

func handleMethodNotAllowed(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusMethodNotAllowed, codeMethod,
		fmt.Sprintf("method %s is not allowed here", r.Method))
}

// writeJSON answers status with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // JSON for programs; "<" need not become \u003c
	if err := enc.Encode(v); err != nil {
		writeError(w, http.StatusInternalServerError, codeInternal, "encoding the answer failed")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

// writeError answers with the API's error body.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, errorBody{Error: errorDetail{Code: code, Message: msg}})
}

// decodeBody reads a JSON body of at most limit bytes into v, answering
// 413 or 400 itself when it cannot; it reports whether v was filled.
func decodeBody(w http.ResponseWriter, r *http.Request, limit int64, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("more than one JSON value")
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, codeTooLarge,
			fmt.Sprintf("request body larger than %d bytes", limit))
		return false
	case err != nil:
		writeError(w, http.StatusBadRequest, codeInvalidArgument,
			fmt.Sprintf("malformed JSON body: %v", err))
		return false
	}
	return true
}
