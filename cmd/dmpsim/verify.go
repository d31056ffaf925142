package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/dmp-diy/diy/pangolin"
)

// AudienceCheck compares one audience in Pangolin with the model.
type AudienceCheck struct {
	Audience   LiveAudience
	PangolinID string // "" when Pangolin has no audience with the DMP's ID
	Expected   int
	Actual     int
	Missing    []string // expected members Pangolin lacks, sorted
	Unexpected []string // members Pangolin has that are not expected, sorted
}

// OK reports whether Pangolin has the audience with exactly the expected
// members.
func (c AudienceCheck) OK() bool {
	return c.PangolinID != "" && len(c.Missing) == 0 && len(c.Unexpected) == 0
}

// VerifyResult is the last comparison of every audience.
type VerifyResult struct {
	Checks []AudienceCheck
	Rounds int           // comparisons of all audiences made
	Took   time.Duration // until they matched, or until the settle time ran out
}

// Differences is the number of audiences that do not match.
func (r VerifyResult) Differences() int {
	n := 0
	for _, c := range r.Checks {
		if !c.OK() {
			n++
		}
	}
	return n
}

// Verifier reads audiences from Pangolin and compares them with the model.
type Verifier struct {
	Client  *pangolin.Client
	Settle  time.Duration // how long to wait for the pipeline to catch up
	Poll    time.Duration // pause between comparisons
	Timeout time.Duration // per Pangolin call
	ids     map[int]string
}

// Verify compares every audience with the model, again and again, until
// all match or Settle has passed; the pipeline is asynchronous. It returns
// the last comparison, and an error only when Pangolin could not be read.
func (v *Verifier) Verify(ctx context.Context, auds []LiveAudience, model *Model) (
	VerifyResult, error) {
	start := time.Now()
	deadline := start.Add(v.Settle)
	res := VerifyResult{}
	for {
		checks, err := v.compareAll(ctx, auds, model)
		switch {
		case errors.Is(err, pangolin.ErrUnauthenticated), ctx.Err() != nil:
			return res, err
		case err == nil:
			res.Checks = checks
			res.Rounds++
			res.Took = time.Since(start)
			if res.Differences() == 0 {
				return res, nil
			}
		}
		if !time.Now().Add(v.Poll).Before(deadline) {
			return res, err
		}
		if err := sleep(ctx, v.Poll); err != nil {
			return res, err
		}
	}
}

func (v *Verifier) compareAll(ctx context.Context, auds []LiveAudience, model *Model) (
	[]AudienceCheck, error) {
	checks := make([]AudienceCheck, len(auds))
	for i, a := range auds {
		c, err := v.compare(ctx, a, model.Members(a.Index))
		if err != nil {
			return nil, err
		}
		checks[i] = c
	}
	return checks, nil
}

// compare reads one audience and its members from Pangolin.
func (v *Verifier) compare(ctx context.Context, a LiveAudience, want []string) (
	AudienceCheck, error) {
	c := AudienceCheck{Audience: a, Expected: len(want), Missing: want}
	id, err := v.pangolinID(ctx, a)
	if err != nil || id == "" {
		return c, err
	}
	c.PangolinID = id
	callCtx, cancel := context.WithTimeout(ctx, v.Timeout)
	defer cancel()
	got, err := v.Client.AllMembers(callCtx, id)
	if err != nil {
		return c, fmt.Errorf("reading the members of audience %s: %w", a.DMPID, err)
	}
	slices.Sort(got)
	c.Actual = len(got)
	c.Missing, c.Unexpected = diff(want, got)
	return c, nil
}

// pangolinID finds the audience whose external ID is the DMP's ID; ""
// when there is none yet. A found ID is remembered.
func (v *Verifier) pangolinID(ctx context.Context, a LiveAudience) (string, error) {
	if id, ok := v.ids[a.Index]; ok {
		return id, nil
	}
	id, err := findAudience(ctx, v.Client, v.Timeout, a.DMPID)
	if err == nil && id != "" {
		if v.ids == nil {
			v.ids = map[int]string{}
		}
		v.ids[a.Index] = id
	}
	return id, err
}

func findAudience(ctx context.Context, c *pangolin.Client, timeout time.Duration,
	dmpID string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	list, err := c.ListAudiences(ctx, dmpID)
	if err != nil {
		return "", fmt.Errorf("finding audience %s: %w", dmpID, err)
	}
	if len(list) == 0 {
		return "", nil
	}
	return list[0].ID, nil
}

// Baseline adds to the model the members Pangolin already has in the
// run's audiences (from an earlier run with the same seed), so that the
// expected state starts where the platform is. It returns how many
// audiences had members and how many members there were.
func Baseline(ctx context.Context, c *pangolin.Client, timeout time.Duration,
	auds []LiveAudience, model *Model) (audiences, members int, err error) {
	for _, a := range auds {
		id, err := findAudience(ctx, c, timeout, a.DMPID)
		if err != nil {
			return audiences, members, err
		}
		if id == "" {
			continue
		}
		callCtx, cancel := context.WithTimeout(ctx, timeout)
		got, err := c.AllMembers(callCtx, id)
		cancel()
		if err != nil {
			return audiences, members, fmt.Errorf("reading the members of audience %s: %w",
				a.DMPID, err)
		}
		for _, u := range got {
			model.Add(a.Index, u)
		}
		if len(got) > 0 {
			audiences++
			members += len(got)
		}
	}
	return audiences, members, nil
}

// diff returns what want has that got lacks, and what got has that want
// lacks; both inputs sorted.
func diff(want, got []string) (missing, unexpected []string) {
	i, j := 0, 0
	for i < len(want) || j < len(got) {
		switch {
		case j == len(got) || (i < len(want) && want[i] < got[j]):
			missing = append(missing, want[i])
			i++
		case i == len(want) || got[j] < want[i]:
			unexpected = append(unexpected, got[j])
			j++
		default:
			i++
			j++
		}
	}
	return missing, unexpected
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
