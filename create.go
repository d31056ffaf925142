package diy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/dmp-diy/diy/dmp"
	"github.com/dmp-diy/diy/pangolin"
	"github.com/dmp-diy/diy/secrets"
	"github.com/dmp-diy/diy/store"
)

// createAudience answers CREATE_AUDIENCE: it creates the audience in
// Pangolin (idempotent by the DMP's audience ID), stores the mapping and
// answers with Pangolin's ID, all within the create deadline.
func (a *App) createAudience(w http.ResponseWriter, r *http.Request, c *dmp.Call,
	cl *callLog) int {
	call, err := c.CreateAudience()
	if err != nil {
		return cl.refuse(w, http.StatusBadRequest, err.Error())
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.cfg.CreateTimeout)
	defer cancel()

	m, err := a.store.Lookup(ctx, call.Customer, call.Audience)
	if errors.Is(err, store.ErrNotFound) {
		m, err = a.create(ctx, call)
	}
	if err != nil {
		cl.reason = err.Error()
		status, sentence := createFailure(ctx, call.Customer, err)
		return writeError(w, status, sentence)
	}
	if !a.cfg.ReturnPlatformID {
		w.WriteHeader(http.StatusOK)
		return http.StatusOK
	}
	return writeJSON(w, http.StatusOK, map[string]string{"id": m.PangolinID})
}

// create makes the audience in Pangolin, then records the mapping. Two
// concurrent creates both reach Pangolin, which answers both with one
// audience; the store keeps the first mapping and both answer with it.
func (a *App) create(ctx context.Context, call dmp.CreateAudienceCall) (store.Mapping, error) {
	var aud pangolin.Audience
	err := a.withKey(ctx, call.Customer, func(c *pangolin.Client) error {
		var err error
		aud, _, err = c.CreateAudience(ctx, call.Name, call.Audience)
		return err
	})
	if err != nil {
		return store.Mapping{}, err
	}
	m, _, err := a.store.Create(ctx, store.Mapping{
		Customer: call.Customer, Audience: call.Audience, PangolinID: aud.ID,
		Name: call.Name, CreatedAt: a.now().UTC(),
	})
	if err != nil {
		return store.Mapping{}, fmt.Errorf("storing the mapping: %w", err)
	}
	return m, nil
}

// withKey calls fn with a client holding the customer's Pangolin key. When
// Pangolin refuses the key, the cached key is dropped and fn runs once more
// with the key read again, so a rotated key is picked up at once.
func (a *App) withKey(ctx context.Context, customer string, fn func(*pangolin.Client) error) error {
	for attempt := 0; ; attempt++ {
		key, err := a.keys.APIKey(ctx, customer)
		if err != nil {
			return fmt.Errorf("reading the Pangolin key: %w", err)
		}
		err = fn(a.pangolin.WithAPIKey(key))
		if !errors.Is(err, pangolin.ErrUnauthenticated) || attempt > 0 {
			return err
		}
		a.keys.Invalidate(customer)
	}
}

// createFailure turns a failed create into a status and a sentence the
// DMP can show its user. The Go error itself goes only to the log.
func createFailure(ctx context.Context, customer string, err error) (int, string) {
	switch {
	case errors.Is(err, secrets.ErrNoKey):
		return http.StatusBadGateway, fmt.Sprintf(
			"No Pangolin API key is configured for customer %s.", customer)
	case errors.Is(err, pangolin.ErrUnauthenticated):
		return http.StatusBadGateway, fmt.Sprintf(
			"Pangolin refused the API key for customer %s.", customer)
	case errors.Is(err, pangolin.ErrInvalidArgument), errors.Is(err, pangolin.ErrTooLarge),
		errors.Is(err, store.ErrInvalid):
		// The call as sent can never succeed: a 400, which the DMP does not
		// retry, with Pangolin's reason.
		var apiErr *pangolin.APIError
		if errors.As(err, &apiErr) && apiErr.Message != "" {
			return http.StatusBadRequest, "Pangolin refused the audience: " +
				strings.TrimSuffix(apiErr.Message, ".") + "."
		}
		return http.StatusBadRequest, "The audience cannot be created as sent: its ID or name is too long."
	case ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable,
			"Pangolin did not answer in time; the call can be retried."
	case errors.Is(err, pangolin.ErrRateLimited), errors.Is(err, pangolin.ErrUnavailable):
		return http.StatusServiceUnavailable,
			"Pangolin is unavailable right now; the call can be retried."
	}
	return http.StatusServiceUnavailable,
		"The audience could not be created right now; the call can be retried."
}
