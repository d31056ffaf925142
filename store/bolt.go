package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// BoltOpenTimeout is how long OpenBolt waits for the lock on the database
// file before it gives up with ErrLocked. Only one process may hold the file.
const BoltOpenTimeout = time.Second

// Bucket names of the embedded store's layout.
var (
	// audiencesBucket maps key(customer, DMP audience ID) to a JSON record.
	audiencesBucket = []byte("audiences")
	// pangolinBucket maps key(customer, Pangolin ID) to the DMP audience ID.
	pangolinBucket = []byte("audiences_by_pangolin_id")
)

// Bolt is the embedded Store for local runs: one bbolt file on disk, which
// keeps its mappings across restarts. Create runs in a write transaction,
// and bbolt runs one write transaction at a time, so concurrent creates of
// one audience store one mapping. A Bolt is safe for concurrent use; the
// file can be open in one process at a time.
type Bolt struct {
	db  *bolt.DB
	now func() time.Time
}

var _ Store = (*Bolt)(nil)

// OpenBolt opens the embedded store in the file at path, creating the file
// (mode 0600), its parent directory and the buckets when missing. When
// another process holds the file it fails after BoltOpenTimeout with an
// error wrapping ErrLocked. Call Close when done.
func OpenBolt(path string) (*Bolt, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("store: open bolt: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: BoltOpenTimeout})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s", ErrLocked, path)
	}
	if err != nil {
		return nil, fmt.Errorf("store: open bolt %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{audiencesBucket, pangolinBucket} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store: create buckets in %s: %w", path, err)
	}
	return &Bolt{db: db, now: time.Now}, nil
}

// Create stores m unless (m.Customer, m.Audience) is already mapped; it
// returns the mapping now stored and whether this call created it. A zero
// m.CreatedAt is set to the current time. It fails with ErrInvalid for an
// empty or malformed field and with ErrConflict when m.PangolinID already
// belongs to another audience of the customer.
func (s *Bolt) Create(ctx context.Context, m Mapping) (Mapping, bool, error) {
	m, err := prepare(m, s.now())
	if err != nil {
		return Mapping{}, false, err
	}
	if err := ctx.Err(); err != nil {
		return Mapping{}, false, wrap("create mapping", err)
	}
	stored, created := toRecord(m), false
	err = s.db.Update(func(tx *bolt.Tx) error {
		audiences, pangolin := tx.Bucket(audiencesBucket), tx.Bucket(pangolinBucket)
		k := key(m.Customer, m.Audience)
		if v := audiences.Get(k); v != nil {
			return json.Unmarshal(v, &stored)
		}
		pk := key(m.Customer, m.PangolinID)
		if pangolin.Get(pk) != nil {
			return ErrConflict
		}
		v, err := json.Marshal(stored)
		if err != nil {
			return err
		}
		created = true
		if err := audiences.Put(k, v); err != nil {
			return err
		}
		return pangolin.Put(pk, []byte(m.Audience))
	})
	if err != nil {
		return Mapping{}, false, wrap("create mapping", boltErr(err))
	}
	return stored.mapping(), created, nil
}

// Lookup finds a customer's mapping by the DMP audience ID or, failing
// that, by the Pangolin ID. It returns ErrNotFound when neither matches.
func (s *Bolt) Lookup(ctx context.Context, customer, id string) (Mapping, error) {
	if err := checkLookup(customer, id); err != nil {
		return Mapping{}, err
	}
	if err := ctx.Err(); err != nil {
		return Mapping{}, wrap("look up mapping", err)
	}
	var r record
	err := s.db.View(func(tx *bolt.Tx) error {
		audiences := tx.Bucket(audiencesBucket)
		v := audiences.Get(key(customer, id))
		if v == nil {
			if audience := tx.Bucket(pangolinBucket).Get(key(customer, id)); audience != nil {
				v = audiences.Get(key(customer, string(audience)))
			}
		}
		if v == nil {
			return ErrNotFound
		}
		return json.Unmarshal(v, &r)
	})
	if err != nil {
		return Mapping{}, wrap("look up mapping", boltErr(err))
	}
	return r.mapping(), nil
}

// Close releases the database file. Calls after Close fail with ErrClosed;
// calling Close again is harmless.
func (s *Bolt) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("store: close bolt: %w", err)
	}
	return nil
}

// boltErr translates bbolt's closed-database error into ErrClosed.
func boltErr(err error) error {
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}
