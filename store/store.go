// Package store keeps the mapping between a DMP audience and the Pangolin
// audience created for it.
//
// A mapping is keyed by the DMP customer and the DMP's audience ID. It can
// be found again by that audience ID or by the Pangolin ID, which diy may
// hand back to the DMP in place of its own ID; both lookups are scoped to
// the customer, so one customer never sees another's audiences.
//
// Two implementations share the Store interface: Firestore, for Google
// Cloud (and the Firestore emulator), and Bolt, an embedded on-disk store
// for local runs. Both create a mapping at most once, however many callers
// race to create it.
package store

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// Mapping links a DMP audience to its Pangolin audience.
type Mapping struct {
	Customer   string    // DMP customer ID, decimal string
	Audience   string    // DMP audience ID
	PangolinID string    // Pangolin audience ID (also what diy may return to the DMP)
	Name       string    // audience name as the DMP sent it; may be empty
	CreatedAt  time.Time // when the mapping was stored, UTC, microsecond precision
}

// Store keeps audience mappings. Implementations are safe for concurrent use.
type Store interface {
	// Create stores m unless (m.Customer, m.Audience) is already mapped; it
	// returns the mapping now stored and whether this call created it.
	Create(ctx context.Context, m Mapping) (Mapping, bool, error)
	// Lookup finds a customer's mapping by the DMP audience ID or by the
	// Pangolin ID returned to the DMP. ErrNotFound when neither matches.
	Lookup(ctx context.Context, customer, audienceID string) (Mapping, error)
	Close() error
}

// Limits on the values a mapping may hold, in bytes. They keep every
// record well inside the limits of both backends.
const (
	MaxIDLength   = 4096      // Customer, Audience and PangolinID
	MaxNameLength = 64 * 1024 // Name
)

var (
	// ErrNotFound is returned by Lookup when the customer has no mapping
	// with the given ID.
	ErrNotFound = errors.New("store: audience mapping not found")

	// ErrInvalid is wrapped by errors about an argument: an empty or
	// oversized ID, or text that is not valid UTF-8. The message names the
	// field.
	ErrInvalid = errors.New("store: invalid argument")

	// ErrConflict is returned by Create when the Pangolin ID is already
	// mapped to another audience of the same customer.
	ErrConflict = errors.New("store: Pangolin ID already mapped to another audience")

	// ErrClosed is returned by calls made after Close.
	ErrClosed = errors.New("store: closed")

	// ErrLocked is returned by OpenBolt when another process holds the
	// database file.
	ErrLocked = errors.New("store: database file is in use by another process")
)

// prepare validates m for Create and fills in CreatedAt (now, when zero),
// normalised to UTC at microsecond precision, the precision Firestore keeps.
func prepare(m Mapping, now time.Time) (Mapping, error) {
	for _, f := range []struct{ name, value string }{
		{"customer", m.Customer},
		{"audience", m.Audience},
		{"Pangolin ID", m.PangolinID},
	} {
		if err := checkID(f.name, f.value); err != nil {
			return Mapping{}, err
		}
	}
	if err := checkText("name", m.Name, MaxNameLength); err != nil {
		return Mapping{}, err
	}
	if m.CreatedAt.IsZero() {
		m.CreatedAt = now
	}
	m.CreatedAt = m.CreatedAt.UTC().Truncate(time.Microsecond)
	return m, nil
}

// checkLookup validates the arguments of Lookup.
func checkLookup(customer, id string) error {
	if err := checkID("customer", customer); err != nil {
		return err
	}
	return checkID("audience ID", id)
}

func checkID(field, value string) error {
	if value == "" {
		return fmt.Errorf("%w: empty %s", ErrInvalid, field)
	}
	return checkText(field, value, MaxIDLength)
}

func checkText(field, value string, max int) error {
	if len(value) > max {
		return fmt.Errorf("%w: %s longer than %d bytes", ErrInvalid, field, max)
	}
	if !utf8.ValidString(value) {
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalid, field)
	}
	return nil
}

// wrap names the failed operation in err, unless err is one of the
// package's sentinel errors, which speak for themselves.
func wrap(op string, err error) error {
	for _, sentinel := range []error{ErrNotFound, ErrInvalid, ErrConflict, ErrClosed} {
		if errors.Is(err, sentinel) {
			return err
		}
	}
	return fmt.Errorf("store: %s: %w", op, err)
}

// key encodes a (customer, id) pair as bytes that no other pair shares:
// the customer's length comes first, so any strings may be joined.
func key(customer, id string) []byte {
	b := binary.AppendUvarint(make([]byte, 0, 2+len(customer)+len(id)), uint64(len(customer)))
	return append(append(b, customer...), id...)
}

// docID turns a (customer, id) pair into a Firestore document ID: the
// hexadecimal SHA-256 of key. Any pair of strings gives a valid ID of 64
// characters (never '/', '.', '..' or __x__, always under 1500 bytes), and
// the IDs spread evenly over Firestore's key range.
func docID(customer, id string) string {
	sum := sha256.Sum256(key(customer, id))
	return hex.EncodeToString(sum[:])
}

// record is a mapping as both backends store it.
type record struct {
	Customer   string    `firestore:"customer" json:"customer"`
	Audience   string    `firestore:"audience" json:"audience"`
	PangolinID string    `firestore:"pangolin_id" json:"pangolin_id"`
	Name       string    `firestore:"name" json:"name"`
	CreatedAt  time.Time `firestore:"created_at" json:"created_at"`
}

func toRecord(m Mapping) record {
	return record(m)
}

func (r record) mapping() Mapping {
	m := Mapping(r)
	m.CreatedAt = m.CreatedAt.UTC()
	return m
}
