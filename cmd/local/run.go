package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"github.com/GoogleCloudPlatform/functions-framework-go/funcframework"

	"github.com/dmp-diy/diy"
	"github.com/dmp-diy/diy/localcloud"
	"github.com/dmp-diy/diy/pangolin"
)

// pipeline is everything run starts, in the order it stops them.
type pipeline struct {
	s        settings
	cfg      diy.Config
	log      *slog.Logger
	pangolin *pangolin.Server
	panSrv   *http.Server
	fake     *localcloud.Fake
	client   *pubsub.Client
	topo     localcloud.Topology
	fwURL    string
	public   *http.Server
	pusher   *localcloud.Pusher
	pushDone chan error
}

// run starts the pipeline, prints how to reach it, and on ctx's end stops
// taking requests, forwards what is queued and stops.
func run(ctx context.Context, out io.Writer) error {
	s, err := applyDefaults()
	if err != nil {
		return err
	}
	cfg, err := diy.ConfigFromEnv(os.Getenv)
	if err != nil {
		return err
	}
	unlock, err := lockDataDir(s.dataDir)
	if err != nil {
		return err
	}
	defer unlock()
	p := &pipeline{s: s, cfg: cfg, log: diy.NewLogger(os.Stderr)}
	defer p.close()
	steps := []func(context.Context) error{p.startPangolin, p.startPubSub, p.startFunctions,
		p.startPublic}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return err
		}
	}
	p.pusher = &localcloud.Pusher{Client: p.client, Topology: p.topo, URL: p.fwURL + "/forward",
		Log: p.log}
	pushCtx, stopPush := context.WithCancel(context.Background())
	defer stopPush()
	p.pushDone = make(chan error, 1)
	go func() { p.pushDone <- p.pusher.Run(pushCtx) }()

	printBanner(out, p)
	<-ctx.Done()

	fmt.Fprintln(out, "stopping: taking no new requests, forwarding what is queued...")
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.public.Shutdown(shutCtx); err != nil {
		p.log.Warn("diy endpoint did not stop cleanly", "error", err.Error())
	}
	left := p.drain(s.drainTimeout)
	stopPush()
	<-p.pushDone
	if left > 0 {
		return fmt.Errorf("%d queued messages were not forwarded within %s (DIY_DRAIN_TIMEOUT)",
			left, s.drainTimeout)
	}
	fmt.Fprintln(out, "stopped: everything queued was forwarded.")
	return nil
}

func (p *pipeline) startPangolin(ctx context.Context) error {
	if p.s.pangolinURL != "" {
		return nil
	}
	if err := os.MkdirAll(p.s.dataDir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	srv, err := pangolin.NewServer(pangolin.ServerOptions{
		APIKeys:  []string{os.Getenv("PANGOLIN_API_KEY")},
		DataFile: filepath.Join(p.s.dataDir, "pangolin.json"),
		Faults:   p.s.faults,
	})
	if err != nil {
		return fmt.Errorf("starting Pangolin: %w", err)
	}
	p.pangolin = srv
	p.panSrv, err = serve("127.0.0.1:"+p.s.pangolinPort, srv, "PANGOLIN_PORT")
	return err
}

// startPubSub starts the in-memory fake, unless an emulator is named, and
// lays out the topics and subscriptions as deploy.sh does.
func (p *pipeline) startPubSub(ctx context.Context) error {
	var err error
	if os.Getenv("PUBSUB_EMULATOR_HOST") == "" {
		if p.fake, err = localcloud.StartFake(); err != nil {
			return err
		}
		os.Setenv("PUBSUB_EMULATOR_HOST", p.fake.Addr)
	}
	p.client, err = pubsub.NewClient(ctx, p.cfg.Project)
	if err != nil {
		return fmt.Errorf("pubsub.NewClient: %w", err)
	}
	p.topo = localcloud.DefaultTopology(p.cfg.Project)
	p.topo.Topic, p.topo.DeadLetterTopic = p.cfg.Topic, p.cfg.DeadLetterTopic
	// Same ordering and dead-letter policy as production; shorter retry
	// delays, so that a local run recovers in seconds. The 20 attempts
	// still span more than DIY_UNMAPPED_GRACE's default, so a message for
	// an audience never created is dead-lettered by forward, with the
	// reason, rather than by the attempt limit.
	p.topo.MinRetryDelay, p.topo.MaxRetryDelay = 500*time.Millisecond, 60*time.Second
	return p.topo.Create(ctx, p.client)
}

// startFunctions serves both functions with the Functions Framework on a
// private port: /diy and /forward.
func (p *pipeline) startFunctions(ctx context.Context) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	errc := make(chan error, 1)
	go func() { errc <- funcframework.StartHostPort("127.0.0.1", fmt.Sprint(port)) }()
	p.fwURL = fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case err := <-errc:
			return fmt.Errorf("Functions Framework: %w", err)
		default:
		}
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("the Functions Framework did not start within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startPublic serves the diy endpoint on PORT in front of the framework,
// so that a shutdown can stop new calls while queued work drains.
func (p *pipeline) startPublic(ctx context.Context) error {
	target, _ := url.Parse(p.fwURL)
	proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target)
		r.Out.URL.Path, r.Out.URL.RawPath = "/diy", ""
	}}
	var err error
	p.public, err = serve("127.0.0.1:"+p.s.port, proxy, "PORT")
	return err
}

// serve listens on addr and serves h until Shutdown.
func serve(addr string, h http.Handler, setting string) (*http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on %s (choose another with %s): %w", addr, setting, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return srv, nil
}

// drain waits until every message on the topic has been acknowledged
// (forwarded or dead-lettered) and returns how many were left when the
// timeout passed. With an external emulator, which keeps what is not yet
// delivered, it waits for the deliveries under way.
func (p *pipeline) drain(timeout time.Duration) int {
	deadline := time.Now().Add(timeout)
	for {
		left := int(p.pusher.InFlight())
		if p.fake != nil {
			left = 0
			for _, m := range p.fake.Messages() {
				if m.Topic == p.topo.TopicName() && m.Acks == 0 {
					left++
				}
			}
		}
		if left == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *pipeline) close() {
	if p.client != nil {
		p.client.Close()
	}
	if p.fake != nil {
		p.fake.Close()
	}
	if p.panSrv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		p.panSrv.Shutdown(ctx)
	}
	if p.pangolin != nil {
		if err := p.pangolin.Close(); err != nil {
			p.log.Error("saving Pangolin's state failed", "error", err.Error())
		}
	}
}
