package pangolin

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// firstAudienceID is the ID of a fresh server's first audience.
const firstAudienceID = 1000000001

// errClosed is returned by Save after Close.
var errClosed = errors.New("pangolin: server closed")

// ServerOptions configures NewServer.
type ServerOptions struct {
	// APIKeys are the accepted keys, one account each. At least one.
	APIKeys []string
	// DataFile is where state is kept across restarts; "" keeps it in
	// memory only. Next to it the server keeps DataFile+".journal".
	DataFile string
	// Faults are the faults injected from the start; zero = none.
	Faults Faults
	// Logger receives one line per request; nil = no request log.
	Logger *slog.Logger
	// Seed seeds the randomness of injected failures; 0 = time-based.
	Seed int64
}

// Server is the Pangolin API server, an http.Handler. It is safe for
// concurrent use.
//
// Locking: mu guards the maps of accounts and audiences and is held shared by
// every call on an existing audience, exclusively by create and Save; each
// audience's own lock guards its members, so calls on different audiences
// run in parallel. Lock order is Server.mu, then audience.mu, then the
// journal's lock.
type Server struct {
	keys    []apiKey
	logger  *slog.Logger
	faults  *faultInjector
	handler http.Handler

	mu        sync.RWMutex
	accounts  map[string]*account  // by account (key digest)
	audiences map[string]*audience // by audience ID, every account
	nextID    uint64
	closed    bool

	store *store // nil when memory only

	compact   chan struct{} // asks the background loop to Save
	stop      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

// account holds the audiences one API key sees.
type account struct {
	audiences  map[string]*audience // by ID
	byExternal map[string]*audience // by external ID, when set
}

// audience is an audience and its members.
type audience struct {
	id, name, externalID, account string
	createdAt                     time.Time

	mu      sync.RWMutex
	members memberSet
}

// NewServer returns a server accepting opts.APIKeys. With a DataFile it
// loads the state saved there (and replays the journal of changes made since),
// writes a fresh snapshot and starts an empty journal.
func NewServer(opts ServerOptions) (*Server, error) {
	if len(opts.APIKeys) == 0 {
		return nil, errors.New("pangolin.NewServer: no API keys")
	}
	faults, err := newFaultInjector(opts.Faults, opts.Seed)
	if err != nil {
		return nil, fmt.Errorf("pangolin.NewServer: %w", err)
	}
	s := &Server{
		logger:    opts.Logger,
		faults:    faults,
		accounts:  map[string]*account{},
		audiences: map[string]*audience{},
		nextID:    firstAudienceID,
		compact:   make(chan struct{}, 1),
		stop:      make(chan struct{}),
	}
	for _, k := range opts.APIKeys {
		if k == "" {
			return nil, errors.New("pangolin.NewServer: empty API key")
		}
		s.keys = append(s.keys, newAPIKey(k))
		s.accountFor(s.keys[len(s.keys)-1].account)
	}
	if opts.DataFile != "" {
		if s.store, err = openStore(opts.DataFile, s); err != nil {
			return nil, fmt.Errorf("pangolin.NewServer: %w", err)
		}
		s.wg.Add(1)
		go s.compactLoop()
	}
	s.handler = s.routes()
	return s, nil
}

// ServeHTTP answers one API request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.handler.ServeHTTP(w, r)
}

// SetFaults changes the injected faults at run time. Out-of-range values are
// clamped: negative rates and latency to 0, FailureRate to at most 1. The
// rate limiters start afresh.
func (s *Server) SetFaults(f Faults) {
	s.faults.set(f)
}

// Save writes the whole state to the data file atomically and empties the
// journal. It is a no-op for a memory-only server. Calls wait while it runs.
func (s *Server) Save() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	return s.saveLocked()
}

func (s *Server) saveLocked() error {
	if s.store == nil {
		return nil
	}
	if err := s.store.compact(s); err != nil {
		return fmt.Errorf("pangolin: save: %w", err)
	}
	return nil
}

// Close stops background saving, saves the state a last time and releases
// the data file. Calls after Close are answered 503. Close is idempotent.
func (s *Server) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.stop)
		s.wg.Wait()
		s.mu.Lock()
		defer s.mu.Unlock()
		s.closed = true
		if s.store == nil {
			return
		}
		err = errors.Join(s.saveLocked(), s.store.close())
	})
	return err
}

// compactLoop saves when the journal has grown past its limit.
func (s *Server) compactLoop() {
	defer s.wg.Done()
	for {
		select {
		case <-s.stop:
			return
		case <-s.compact:
			// A failure leaves the journal in place, so nothing is lost; the
			// next mutating call asks again.
			_ = s.Save()
		}
	}
}

// requestCompaction asks the background loop to Save, without waiting.
func (s *Server) requestCompaction() {
	select {
	case s.compact <- struct{}{}:
	default:
	}
}

// accountFor returns the account, creating it. The caller holds mu
// exclusively (or is still building the server).
func (s *Server) accountFor(id string) *account {
	acc := s.accounts[id]
	if acc == nil {
		acc = &account{audiences: map[string]*audience{}, byExternal: map[string]*audience{}}
		s.accounts[id] = acc
	}
	return acc
}

// insert adds a to the state. The caller holds mu exclusively.
func (s *Server) insert(a *audience) {
	acc := s.accountFor(a.account)
	acc.audiences[a.id] = a
	if a.externalID != "" {
		acc.byExternal[a.externalID] = a
	}
	s.audiences[a.id] = a
	if n, err := strconv.ParseUint(a.id, 10, 64); err == nil && n >= s.nextID {
		s.nextID = n + 1
	}
}

// lookup finds an audience of the account. The caller holds mu.
func (s *Server) lookup(account, id string) *audience {
	if acc := s.accounts[account]; acc != nil {
		return acc.audiences[id]
	}
	return nil
}

// view returns the audience as the API shows it. The caller holds a.mu.
func (a *audience) view() Audience {
	return Audience{
		ID:         a.id,
		Name:       a.name,
		ExternalID: a.externalID,
		Size:       a.members.len(),
		CreatedAt:  a.createdAt,
	}
}
