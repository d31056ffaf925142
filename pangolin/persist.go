package pangolin

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// Persistence. With a data file the server keeps two files:
//
//   - DataFile, a snapshot of the whole state: a header line, then one JSON
//     line per audience with its members. It is only ever replaced whole:
//     written to a temporary file in the same directory, fsynced, renamed
//     over the old one, and the directory fsynced.
//   - DataFile+".journal", one JSON line per change made since that
//     snapshot. Every create and every batchUpdate that changes membership
//     appends its line and fsyncs it before the call is answered.
//
// So an acknowledged change survives even kill -9 or a power cut: at start
// the server loads the snapshot, replays the journal (ignoring a last line cut
// short by a crash, which belonged to a call never acknowledged), writes a
// fresh snapshot and empties the journal. Save, Close, and the background loop
// (once the journal passes journalLimit bytes) do the same compaction while
// calls wait. Replaying is idempotent: every line sets users to a final state,
// so a crash between renaming a snapshot and emptying the journal is harmless.

const (
	snapshotFormat  = "pangolin-snapshot"
	snapshotVersion = 1
	journalSuffix   = ".journal"
)

// journalLimit is the journal size that triggers a background compaction.
var journalLimit int64 = 64 << 20

// record is one journal line.
type record struct {
	Op       string          `json:"op"` // "create" or "update"
	Audience *storedAudience `json:"audience,omitempty"`
	ID       string          `json:"id,omitempty"`
	Add      []string        `json:"add,omitempty"`
	Remove   []string        `json:"remove,omitempty"`
}

// storedAudience is an audience in the snapshot or a create record.
type storedAudience struct {
	Account    string    `json:"account"` // SHA-256 of the API key, hex
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	ExternalID string    `json:"external_id,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	Members    []string  `json:"members,omitempty"`
}

type snapshotHeader struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
	NextID  uint64 `json:"next_id"`
}

func createRecord(a *audience) record {
	return record{Op: "create", Audience: &storedAudience{
		Account: a.account, ID: a.id, Name: a.name, ExternalID: a.externalID,
		CreatedAt: a.createdAt,
	}}
}

func updateRecord(id string, adds, removes []string) record {
	return record{Op: "update", ID: id, Add: adds, Remove: removes}
}

// store is the data file and its journal. Its methods are called with the
// server's mu held (shared for append, exclusively for the others).
type store struct {
	path string

	mu      sync.Mutex // serializes appends from different audiences
	journal *os.File
	size    int64
	broken  error // set when an append failed; cleared by a compaction
}

// openStore loads path and its journal into s, then compacts them.
func openStore(path string, s *Server) (*store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	if err := s.loadSnapshot(path); err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	if err := s.replayJournal(path + journalSuffix); err != nil {
		return nil, fmt.Errorf("replay %s: %w", path+journalSuffix, err)
	}
	f, err := os.OpenFile(path+journalSuffix, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	st := &store{path: path, journal: f}
	if err := st.compact(s); err != nil {
		_ = f.Close()
		return nil, err
	}
	return st, nil
}

// journal appends rec before a change is applied and answered. It asks for a
// compaction once the journal is large, or broken.
func (s *Server) journal(rec record) error {
	if s.store == nil {
		return nil
	}
	size, err := s.store.append(rec)
	if err != nil || size > journalLimit {
		s.requestCompaction()
	}
	return err
}

// append writes rec as one line and fsyncs it.
func (st *store) append(rec record) (int64, error) {
	line, err := json.Marshal(rec)
	if err != nil {
		return 0, fmt.Errorf("journal: %w", err)
	}
	line = append(line, '\n')

	st.mu.Lock()
	defer st.mu.Unlock()
	if st.broken != nil {
		return st.size, st.broken
	}
	n, err := st.journal.Write(line)
	if err == nil {
		err = st.journal.Sync()
	}
	if err != nil {
		// The line may be on disk in part; until a compaction rewrites the
		// journal, refuse further changes rather than append after it.
		st.broken = fmt.Errorf("journal: %w", err)
		return st.size, st.broken
	}
	st.size += int64(n)
	return st.size, nil
}

// compact writes a snapshot of s and empties the journal.
func (st *store) compact(s *Server) error {
	if err := writeFileAtomic(st.path, s.writeSnapshot); err != nil {
		return fmt.Errorf("write snapshot: %w", err)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	err := st.journal.Truncate(0)
	if err == nil {
		err = st.journal.Sync()
	}
	if err != nil {
		st.broken = fmt.Errorf("journal: %w", err)
		return st.broken
	}
	st.size, st.broken = 0, nil
	return nil
}

func (st *store) close() error {
	return st.journal.Close()
}

// writeSnapshot writes the state. The caller holds mu exclusively.
func (s *Server) writeSnapshot(w io.Writer) error {
	enc := json.NewEncoder(w)
	if err := enc.Encode(snapshotHeader{snapshotFormat, snapshotVersion, s.nextID}); err != nil {
		return err
	}
	all := make([]*audience, 0, len(s.audiences))
	for _, a := range s.audiences {
		all = append(all, a)
	}
	slices.SortFunc(all, compareIDs)
	for _, a := range all {
		rec := createRecord(a).Audience
		rec.Members = a.members.ids
		if err := enc.Encode(rec); err != nil {
			return err
		}
	}
	return nil
}

// openIfExists opens path for reading; a file that is not there gives
// nil and no error.
func openIfExists(path string) (*os.File, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return f, err
}

// loadSnapshot reads the snapshot at path, if there is one.
func (s *Server) loadSnapshot(path string) error {
	f, err := openIfExists(path)
	if f == nil || err != nil {
		return err
	}
	defer f.Close()

	dec := json.NewDecoder(bufio.NewReaderSize(f, 1<<20))
	var h snapshotHeader
	if err := dec.Decode(&h); err != nil {
		return fmt.Errorf("header: %w", err)
	}
	if h.Format != snapshotFormat || h.Version != snapshotVersion {
		return fmt.Errorf("not a %s version %d file", snapshotFormat, snapshotVersion)
	}
	for {
		var sa storedAudience
		if err := dec.Decode(&sa); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return fmt.Errorf("audience: %w", err)
		}
		if err := s.restore(sa); err != nil {
			return err
		}
	}
	s.nextID = max(s.nextID, h.NextID)
	return nil
}

// restore adds a stored audience with its members.
func (s *Server) restore(sa storedAudience) error {
	if sa.ID == "" || sa.Account == "" {
		return errors.New("audience without id or account")
	}
	if s.audiences[sa.ID] != nil {
		return fmt.Errorf("audience %s twice", sa.ID)
	}
	a := &audience{id: sa.ID, name: sa.Name, externalID: sa.ExternalID,
		account: sa.Account, createdAt: sa.CreatedAt}
	a.members.ids = sa.Members
	if !strictlySorted(a.members.ids) {
		a.members.ids = sortedUnique(a.members.ids)
	}
	s.insert(a)
	return nil
}

// strictlySorted reports whether ids ascend without duplicates.
func strictlySorted(ids []string) bool {
	for i := 1; i < len(ids); i++ {
		if ids[i-1] >= ids[i] {
			return false
		}
	}
	return true
}

// replayJournal applies the journal at path, if there is one. A last line
// without its newline was cut short by a crash and is ignored.
func (s *Server) replayJournal(path string) error {
	f, err := openIfExists(path)
	if f == nil || err != nil {
		return err
	}
	defer f.Close()

	r := bufio.NewReaderSize(f, 1<<20)
	for n := 1; ; n++ {
		line, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return err
		}
		var rec record
		if err := json.Unmarshal(line, &rec); err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
		if err := s.replay(rec); err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
	}
}

// replay applies one journal record; records already in the snapshot change
// nothing.
func (s *Server) replay(rec record) error {
	switch rec.Op {
	case "create":
		if rec.Audience == nil {
			return errors.New("create without audience")
		}
		if s.audiences[rec.Audience.ID] != nil {
			return nil
		}
		return s.restore(*rec.Audience)
	case "update":
		a := s.audiences[rec.ID]
		if a == nil {
			return fmt.Errorf("update of unknown audience %s", rec.ID)
		}
		a.members.apply(a.members.changes(rec.Add, rec.Remove))
		return nil
	}
	return fmt.Errorf("unknown op %q", rec.Op)
}

// writeFileAtomic replaces path with what write produces: a temporary file in
// the same directory is written, fsynced and renamed over path, and the
// directory is fsynced so the rename itself is durable.
func writeFileAtomic(path string, write func(io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	if err = write(bw); err != nil {
		return err
	}
	if err = bw.Flush(); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
