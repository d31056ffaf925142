package diy

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"cloud.google.com/go/pubsub/v2"

	"github.com/dmp-diy/diy/dmp"
	"github.com/dmp-diy/diy/hmac"
)

// MaxBodyBytes bounds a DMP call's body; larger calls are answered 413.
const MaxBodyBytes = 10 << 20

// callLog collects what the one log line of a request says.
type callLog struct {
	typ      dmp.CallType
	status   int
	received int // mutations in the call
	queued   int
	skipped  int
	messages int
	reason   string         // why the call failed, for the operator
	misconf  bool           // the call failed because the integration is misconfigured
	problems map[string]int // skipped mutations by reason
}

// refuse answers with an error sentence and keeps it as the log's reason,
// unless a more precise one is there already.
func (cl *callLog) refuse(w http.ResponseWriter, status int, sentence string) int {
	if cl.reason == "" {
		cl.reason = sentence
	}
	return writeError(w, status, sentence)
}

// ServeHTTP is the diy function: it answers one DMP call.
func (a *App) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := a.now()
	cl := &callLog{}
	defer func() {
		if p := recover(); p != nil {
			a.log.Error("diy: panic while answering a call", "panic", p)
			cl.status, cl.reason = http.StatusInternalServerError, "panic"
			writeError(w, http.StatusInternalServerError, "The integration failed unexpectedly.")
		}
		a.logCall(cl, a.now().Sub(start))
	}()
	cl.status = a.serve(w, r, cl)
}

func (a *App) logCall(cl *callLog, took time.Duration) {
	level := slog.LevelInfo
	switch {
	case cl.status >= 500 || cl.misconf:
		level = slog.LevelError
	case cl.status >= 400 || (cl.typ != "" && !cl.typ.Known()):
		level = slog.LevelWarn
	}
	attrs := []slog.Attr{
		slog.String("type", string(cl.typ)), slog.Int("status", cl.status),
		slog.Int("mutations", cl.received), slog.Int("queued", cl.queued),
		slog.Int("skipped", cl.skipped), slog.Int("messages", cl.messages),
		slog.Float64("latency_ms", float64(took.Microseconds())/1000),
	}
	if cl.reason != "" {
		attrs = append(attrs, slog.String("reason", cl.reason))
	}
	if len(cl.problems) > 0 {
		attrs = append(attrs, slog.Any("skipped_by_reason", cl.problems))
	}
	a.log.LogAttrs(context.Background(), level, "diy call", attrs...)
}

// serve answers the call and returns the status it sent.
func (a *App) serve(w http.ResponseWriter, r *http.Request, cl *callLog) int {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		w.WriteHeader(http.StatusOK) // alive; reveals nothing
		return http.StatusOK
	case http.MethodPost:
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		return cl.refuse(w, http.StatusMethodNotAllowed, "Only GET, HEAD and POST are accepted.")
	}

	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return cl.refuse(w, http.StatusRequestEntityTooLarge, "The body is larger than 10 MiB.")
		}
		cl.reason = err.Error()
		return cl.refuse(w, http.StatusBadRequest, "The body could not be read.")
	}

	if status, ok := a.authenticate(w, r, body, cl); !ok {
		return status
	}

	call, err := dmp.Parse(r.URL.Query().Get("type"), body)
	if err != nil {
		return cl.refuse(w, http.StatusBadRequest, err.Error())
	}
	cl.typ = call.Type
	switch {
	case call.Type == dmp.Validate:
		w.WriteHeader(http.StatusOK)
		return http.StatusOK
	case call.Type == dmp.CreateAudience:
		return a.createAudience(w, r, call, cl)
	case call.Type.IsMutation():
		return a.queueMutations(w, r, call, cl)
	}
	return a.queueUnknown(w, r, call.Type, body, cl)
}

// authenticate checks the signature over the raw body, then Basic Auth
// when configured. Both answer 401 with the same sentence whatever was
// wrong; the log says which.
func (a *App) authenticate(w http.ResponseWriter, r *http.Request, body []byte,
	cl *callLog) (int, bool) {
	if err := a.verifier.Verify(body, r.Header.Get("X-HMAC")); err != nil {
		cl.reason = err.Error()
		if errors.Is(err, hmac.ErrNoSecret) {
			cl.reason = "no HMAC secret is configured (DIY_HMAC_SECRET): every POST is refused"
			cl.misconf = true
		}
		return writeError(w, http.StatusUnauthorized,
			"The X-HMAC signature is missing or does not match the body."), false
	}
	if a.cfg.BasicAuthUser == "" || a.cfg.BasicAuthPass == "" {
		return 0, true
	}
	user, pass, _ := r.BasicAuth()
	// Both fields are always compared, so timing reveals neither.
	userOK := subtle.ConstantTimeCompare([]byte(user), []byte(a.cfg.BasicAuthUser))
	passOK := subtle.ConstantTimeCompare([]byte(pass), []byte(a.cfg.BasicAuthPass))
	if userOK&passOK != 1 {
		cl.reason = "basic auth credentials missing or wrong"
		w.Header().Set("WWW-Authenticate", `Basic realm="diy", charset="UTF-8"`)
		return writeError(w, http.StatusUnauthorized,
			"The Basic Auth credentials are missing or wrong."), false
	}
	return 0, true
}

// queueMutations publishes an ADD or REMOVE call's mutations, one message
// per (customer, audience), and answers 200 once Pub/Sub has every one.
func (a *App) queueMutations(w http.ResponseWriter, r *http.Request, call *dmp.Call,
	cl *callLog) int {
	muts, err := call.Mutations()
	if err != nil {
		return cl.refuse(w, http.StatusBadRequest, err.Error())
	}
	batch := dmp.Group(call.Type, muts, a.now())
	cl.received, cl.skipped, cl.messages = len(muts), batch.Skipped, len(batch.Messages)
	cl.problems = batch.Problems
	if err := a.publish(r.Context(), batch.Messages); err != nil {
		cl.reason = err.Error()
		return writeError(w, http.StatusServiceUnavailable,
			"The mutations could not be queued; nothing was accepted, send them again.")
	}
	cl.queued = batch.Queued
	return writeJSON(w, http.StatusOK, map[string]int{"queued": batch.Queued, "skipped": batch.Skipped})
}

// queueUnknown keeps a signed call of a type this integration does not
// know: it is answered 200 so the DMP is not broken by a new call, and
// published whole so that the forwarder sends it to the dead-letter topic
// with the reason, where an operator finds it.
func (a *App) queueUnknown(w http.ResponseWriter, r *http.Request, typ dmp.CallType,
	body []byte, cl *callLog) int {
	msg := dmp.Unknown(typ, body, a.now())
	cl.messages = 1
	if msg.Truncated {
		cl.reason = "the body of the unknown call was cut to dmp.MaxUnknownBody bytes"
	}
	if err := a.publish(r.Context(), []*dmp.Message{msg}); err != nil {
		cl.reason = err.Error()
		return writeError(w, http.StatusServiceUnavailable,
			"The call could not be queued; send it again.")
	}
	w.WriteHeader(http.StatusOK)
	return http.StatusOK
}

// publish sends msgs and waits, within the publish deadline, until Pub/Sub
// has acknowledged every one. After a failure the ordering key is resumed,
// so that one failure does not block its audience.
func (a *App) publish(ctx context.Context, msgs []*dmp.Message) error {
	ctx, cancel := context.WithTimeout(ctx, a.cfg.PublishTimeout)
	defer cancel()
	results := make([]*pubsub.PublishResult, len(msgs))
	for i, m := range msgs {
		data, err := m.Encode()
		if err != nil {
			return err
		}
		results[i] = a.publisher.Publish(ctx, &pubsub.Message{
			Data: data, Attributes: m.Attributes(), OrderingKey: m.OrderingKey(),
		})
	}
	var errs []error
	for i, res := range results {
		if _, err := res.Get(ctx); err != nil {
			errs = append(errs, err)
			a.resumeWhenDone(res, msgs[i].OrderingKey())
		}
	}
	return errors.Join(errs...)
}

// resumeWhenDone resumes publishing on key once res has failed. A result
// still pending when its request gave up is watched in the background: if
// it fails later, the key must not stay paused.
func (a *App) resumeWhenDone(res *pubsub.PublishResult, key string) {
	if key == "" {
		return
	}
	select {
	case <-res.Ready():
		a.publisher.ResumePublish(key)
	default:
		go func() {
			<-res.Ready()
			if _, err := res.Get(context.Background()); err != nil {
				a.publisher.ResumePublish(key)
			}
		}()
	}
}

// writeError answers with the protocol's error body and returns status.
func writeError(w http.ResponseWriter, status int, sentence string) int {
	return writeJSON(w, status, map[string]string{"error": sentence})
}

func writeJSON(w http.ResponseWriter, status int, v any) int {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
	return status
}
