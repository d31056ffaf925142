package store

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// DefaultCollection is the collection of mappings when FirestoreOptions
// names none.
const DefaultCollection = "diy_audiences"

// pangolinSuffix names the index collection: Collection + pangolinSuffix.
const pangolinSuffix = "_by_pangolin_id"

// FirestoreOptions configures a Firestore store. The zero value (or nil)
// uses the defaults.
type FirestoreOptions struct {
	// Collection is the ID of the collection holding one document per
	// mapping, keyed by customer and DMP audience ID. A second collection,
	// named Collection + "_by_pangolin_id", holds a copy of each mapping
	// keyed by customer and Pangolin ID. Default DefaultCollection.
	Collection string
}

// Firestore is the Store on Google Cloud Firestore (native mode) or its
// emulator.
//
// Each mapping is written as two documents in one transaction: one keyed
// by (customer, DMP audience ID) in Collection, one keyed by (customer,
// Pangolin ID) in the index collection, both holding the whole mapping
// (fields customer, audience, pangolin_id, name, created_at). Document IDs
// are the hex SHA-256 of the length-prefixed customer followed by the ID,
// so any ID is allowed. Lookup reads both candidate documents in one round
// trip and needs no index. Both documents are created with an exists=false
// precondition, so concurrent creates of one audience store one mapping
// even where transactions do not isolate reads (as in some emulators).
// A Firestore is safe for concurrent use.
type Firestore struct {
	client *firestore.Client
	byID   *firestore.CollectionRef // keyed by (customer, DMP audience ID)
	byPID  *firestore.CollectionRef // keyed by (customer, Pangolin ID)
	err    error                    // set when the store was built with bad arguments
	closed atomic.Bool
	now    func() time.Time
}

var _ Store = (*Firestore)(nil)

// NewFirestore returns a store on client, which the caller keeps and closes
// after the store. opts may be nil. A nil client or an invalid collection
// name makes every call fail with an error saying so.
func NewFirestore(client *firestore.Client, opts *FirestoreOptions) *Firestore {
	s := &Firestore{client: client, now: time.Now}
	name := DefaultCollection
	if opts != nil && opts.Collection != "" {
		name = opts.Collection
	}
	if client == nil {
		s.err = fmt.Errorf("%w: nil Firestore client", ErrInvalid)
		return s
	}
	s.byID, s.byPID = client.Collection(name), client.Collection(name+pangolinSuffix)
	if s.byID == nil || s.byPID == nil {
		s.err = fmt.Errorf("%w: collection name %q", ErrInvalid, name)
	}
	return s
}

// Create stores m unless (m.Customer, m.Audience) is already mapped; it
// returns the mapping now stored and whether this call created it. A zero
// m.CreatedAt is set to the current time. It fails with ErrInvalid for an
// empty or malformed field and with ErrConflict when m.PangolinID already
// belongs to another audience of the customer.
func (s *Firestore) Create(ctx context.Context, m Mapping) (Mapping, bool, error) {
	if err := s.usable(); err != nil {
		return Mapping{}, false, err
	}
	m, err := prepare(m, s.now())
	if err != nil {
		return Mapping{}, false, err
	}
	byID := s.byID.Doc(docID(m.Customer, m.Audience))
	byPID := s.byPID.Doc(docID(m.Customer, m.PangolinID))

	var stored record
	var created bool
	err = s.client.RunTransaction(ctx, func(_ context.Context, tx *firestore.Transaction) error {
		var err error
		stored, created, err = createIn(tx, byID, byPID, toRecord(m))
		return err
	})
	if status.Code(err) == codes.AlreadyExists {
		// Another caller created one of the documents after this transaction
		// read them (possible where reads are not isolated): report theirs.
		stored, created, err = s.existing(ctx, byID, byPID)
	}
	if err != nil {
		return Mapping{}, false, wrap("create mapping", err)
	}
	return stored.mapping(), created, nil
}

// createIn returns the mapping stored under byID, or creates r under both
// documents when neither exists.
func createIn(tx *firestore.Transaction, byID, byPID *firestore.DocumentRef, r record) (
	record, bool, error) {
	snaps, err := tx.GetAll([]*firestore.DocumentRef{byID, byPID})
	if err != nil {
		return record{}, false, err
	}
	if existing, ok, err := decode(snaps[0]); ok || err != nil {
		return existing, false, err
	}
	if snaps[1].Exists() {
		return record{}, false, ErrConflict
	}
	if err := tx.Create(byID, r); err != nil {
		return record{}, false, err
	}
	return r, true, tx.Create(byPID, r)
}

// existing reads what a concurrent Create stored after this one lost.
func (s *Firestore) existing(ctx context.Context, byID, byPID *firestore.DocumentRef) (
	record, bool, error) {
	snaps, err := s.client.GetAll(ctx, []*firestore.DocumentRef{byID, byPID})
	if err != nil {
		return record{}, false, err
	}
	r, ok, err := decode(snaps[0])
	switch {
	case err != nil:
		return record{}, false, err
	case ok:
		return r, false, nil
	case snaps[1].Exists():
		return record{}, false, ErrConflict
	}
	return record{}, false, errors.New("mapping reported as existing but not found")
}

// Lookup finds a customer's mapping by the DMP audience ID or, failing
// that, by the Pangolin ID. It returns ErrNotFound when neither matches.
func (s *Firestore) Lookup(ctx context.Context, customer, id string) (Mapping, error) {
	if err := s.usable(); err != nil {
		return Mapping{}, err
	}
	if err := checkLookup(customer, id); err != nil {
		return Mapping{}, err
	}
	// One round trip reads both candidates; the DMP audience ID wins.
	doc := docID(customer, id)
	refs := []*firestore.DocumentRef{s.byID.Doc(doc), s.byPID.Doc(doc)}
	snaps, err := s.client.GetAll(ctx, refs)
	if err != nil {
		return Mapping{}, wrap("look up mapping", err)
	}
	for _, snap := range snaps {
		r, ok, err := decode(snap)
		if err != nil {
			return Mapping{}, wrap("look up mapping", err)
		}
		if ok {
			return r.mapping(), nil
		}
	}
	return Mapping{}, ErrNotFound
}

// Close marks the store closed; later calls fail with ErrClosed. It does not
// close the client, which belongs to the caller. Calling it again is harmless.
func (s *Firestore) Close() error {
	s.closed.Store(true)
	return nil
}

func (s *Firestore) usable() error {
	if s.err != nil {
		return s.err
	}
	if s.closed.Load() {
		return ErrClosed
	}
	return nil
}

// decode reads a mapping document; ok is false when it does not exist.
func decode(snap *firestore.DocumentSnapshot) (r record, ok bool, err error) {
	if !snap.Exists() {
		return record{}, false, nil
	}
	if err := snap.DataTo(&r); err != nil {
		return record{}, false, fmt.Errorf("decode %s: %w", snap.Ref.Path, err)
	}
	return r, true, nil
}
