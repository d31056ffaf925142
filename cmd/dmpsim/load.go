package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/dmp-diy/diy/pangolin"
)

// setupRetryMax bounds the retries of the first calls, GET and VALIDATE.
const setupRetryMax = 10 * time.Second

// loadRun is one run in load mode.
type loadRun struct {
	cfg      Config
	ep       *Endpoint
	universe Universe
	model    *Model
	rep      *Report
	stderr   io.Writer
	notes    io.Writer // what the run is doing, for a person watching
}

// runLoad sets up like the DMP (GET, VALIDATE, CREATE_AUDIENCE), streams
// mutations, verifies Pangolin's state, and writes the report.
func runLoad(ctx context.Context, cfg Config, stdout, stderr io.Writer) error {
	stats := NewStats()
	ep, err := NewEndpoint(cfg.URL, EndpointOptions{
		Secret: cfg.Secret, BasicUser: cfg.BasicUser, BasicPassword: cfg.BasicPassword,
		Timeout: cfg.Timeout, Conns: cfg.Concurrency, Stats: stats, RetryMax: cfg.RetryMax,
	})
	if err != nil {
		return err
	}
	l := &loadRun{
		cfg: cfg, ep: ep, stderr: stderr,
		universe: NewUniverse(cfg.Seed, cfg.Customers, cfg.Audiences, cfg.Users),
		model:    NewModel(cfg.Audiences),
		rep: &Report{
			Endpoint: redactURL(cfg.URL), Seed: cfg.Seed, Customers: cfg.Customers,
			Audiences: cfg.Audiences, Users: cfg.Users, Rate: cfg.Rate,
			Workers:   min(cfg.Concurrency, cfg.Audiences),
			BatchSize: cfg.BatchSize, BatchInterval: cfg.BatchInterval,
			PangolinURL: redactURL(cfg.PangolinURL),
			VerifyNote:  "not run: the run failed before its end",
		},
	}
	l.notes = io.Discard
	if !cfg.NoProgress && isTerminal(stderr) {
		l.notes = stderr
	}
	l.do(ctx)
	l.rep.Types = stats.Summary()
	l.rep.Evaluate()
	l.rep.Write(stdout)
	return l.rep.Err()
}

// do runs the phases in order; the first failure ends the run.
func (l *loadRun) do(ctx context.Context) {
	// An endpoint that is not there is reported soon, not after minutes.
	for _, typ := range []string{callGet, callValidate} {
		if _, err := l.ep.CallWithin(ctx, typ, nil, setupRetryMax); err != nil {
			l.rep.Fail("%v", err)
			return
		}
	}
	fmt.Fprintf(l.notes, "creating %d audiences\n", len(l.universe.Audiences))
	auds, err := l.createAudiences(ctx)
	if err != nil {
		l.rep.Fail("%v", err)
		return
	}
	var pan *pangolin.Client
	if l.cfg.Verify {
		pan = pangolin.NewClient(l.cfg.PangolinURL, l.cfg.PangolinKey, nil)
		l.rep.BaselineAudiences, l.rep.BaselineMembers, err = Baseline(ctx, pan, l.cfg.Timeout,
			auds, l.model)
		if err != nil {
			l.rep.Fail("reading Pangolin before streaming: %v", err)
			return
		}
	}
	if !l.stream(ctx, auds) {
		return
	}
	if !l.cfg.Verify {
		l.rep.VerifyNote = "off (-verify=false)"
		return
	}
	l.verify(ctx, pan, auds)
}

// createAudiences sends CREATE_AUDIENCE for every audience, each worker
// its own audiences in order, and returns them with the IDs to use.
func (l *loadRun) createAudiences(ctx context.Context) ([]LiveAudience, error) {
	auds := make([]LiveAudience, len(l.universe.Audiences))
	workers := l.rep.Workers
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(auds) && errs[w] == nil; i += workers {
				auds[i], errs[w] = l.create(ctx, l.universe.Audiences[i])
			}
		})
	}
	wg.Wait()
	return auds, errors.Join(errs...)
}

func (l *loadRun) create(ctx context.Context, a SimAudience) (LiveAudience, error) {
	ans, err := l.ep.Call(ctx, callCreate, encodeCreate(a))
	if err != nil {
		return LiveAudience{}, fmt.Errorf("creating audience %s: %w", a.DMPID, err)
	}
	live := LiveAudience{SimAudience: a, CallID: a.DMPID}
	if id, ok := createdID(ans.Body); ok {
		live.CallID = id
	}
	return live, nil
}

// stream sends the mutations; false when the run failed.
func (l *loadRun) stream(ctx context.Context, auds []LiveAudience) bool {
	total := l.cfg.Mutations
	if total == 0 {
		total = -1
	}
	bar := newProgress(l.stderr, total, l.cfg.NoProgress)
	s := &Streamer{
		Endpoint: l.ep, Audiences: auds, Workers: l.cfg.Concurrency,
		BatchSize: l.cfg.BatchSize, Interval: l.cfg.BatchInterval,
		Rate: l.cfg.Rate, Limit: l.cfg.Mutations, MaxTime: l.cfg.Duration,
		Progress: bar.Add,
	}
	gen := NewGenerator(l.cfg.Seed, l.universe, l.model, l.cfg.RemoveShare)
	res, err := s.Run(ctx, gen)
	bar.Done()
	l.rep.Stream = &res
	if err != nil {
		l.rep.Fail("streaming: %v", err)
		l.rep.VerifyNote = "not run: streaming failed, so the expected state is unknown"
		return false
	}
	return true
}

func (l *loadRun) verify(ctx context.Context, pan *pangolin.Client, auds []LiveAudience) {
	fmt.Fprintf(l.notes, "verifying against Pangolin, for up to %s\n", l.cfg.Settle)
	v := &Verifier{Client: pan, Settle: l.cfg.Settle, Poll: l.cfg.PollInterval,
		Timeout: l.cfg.Timeout}
	res, err := v.Verify(ctx, auds, l.model)
	l.rep.Verify, l.rep.VerifyNote = &res, ""
	if err != nil {
		l.rep.Fail("verify could not read Pangolin: %v", err)
		if res.Rounds == 0 {
			l.rep.Verify, l.rep.VerifyNote = nil, "failed: Pangolin could not be read"
		}
	}
}
