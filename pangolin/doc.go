// Package pangolin is both sides of the Pangolin API, a stand-in for a
// third-party ad platform that targets audiences: the server (run by
// cmd/pangolin and by the local pipeline) and the Go client the integration
// uses. Both follow the Pangolin API as the project's README describes it.
//
// # Client
//
//	c := pangolin.NewClient("http://127.0.0.1:8081", apiKey, nil)
//	a, created, err := c.CreateAudience(ctx, "Test audience", "a5940e473cea659")
//	if err != nil {
//		return err
//	}
//	res, err := c.UpdateMembers(ctx, a.ID, []string{"u1", "u2"}, nil)
//	switch {
//	case errors.Is(err, pangolin.ErrNotFound):
//		// the account has no such audience
//	case errors.Is(err, pangolin.ErrUnavailable):
//		// still failing when the context ended: try again later
//	}
//	_ = created
//	_ = res.Size
//
// A call retries 429 (waiting at least the Retry-After the server gave),
// 500, 502, 503, 504, and failures to connect or read the answer, with
// exponential backoff and jitter, until it succeeds or the context ends (or,
// when the context has no deadline, ClientOptions.MaxElapsed has passed). It
// never retries other answers. Every call is safe to repeat: creating is
// idempotent by external ID and membership changes are set operations. When
// the context ends first, the error wraps both the context's error and the
// last failure, so errors.Is works with either. Failures carry an *APIError
// (errors.As) with the server's status, code and message.
//
// # Server
//
//	srv, err := pangolin.NewServer(pangolin.ServerOptions{
//		APIKeys:  []string{"key-1", "key-2"},
//		DataFile: "pangolin.json", // "" keeps state in memory only
//	})
//	if err != nil {
//		return err
//	}
//	defer srv.Close()
//	http.ListenAndServe("127.0.0.1:8081", srv)
//
// Each API key is one account that sees only its own audiences. Members are
// kept per audience in a sorted slice, so paging is a binary search and
// memory per member is little more than the ID itself. With a data file,
// every change is written to a journal and fsynced before it is answered,
// so an acknowledged change survives a crash; see Save and Close. Faults (a
// rate limit, a failure rate, added latency) are off by default and can be
// switched on at start or with SetFaults.
package pangolin
