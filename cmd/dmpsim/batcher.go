package main

import "time"

// The DMP's micro-batching: a request once this many users are collected,
// or once this long has passed since the first, whichever comes first.
const (
	DefaultBatchSize     = 100
	DefaultBatchInterval = time.Second
)

// Batch is the mutations of one request: all of one kind, oldest first.
type Batch struct {
	Kind      Kind
	Mutations []Mutation
	opened    time.Time // when its first mutation was collected
}

// memberKey names one user in one audience.
type memberKey struct {
	audience int
	user     string
}

// pending is the batch being collected for one kind.
type pending struct {
	batch Batch
	keys  map[memberKey]bool
}

// Batcher collects one worker's mutations into requests the way the DMP
// does: one batch per kind, sent once it holds MaxUsers mutations or once
// Interval has passed since its first. It keeps the order of every
// (audience, user): before a mutation joins its batch, a batch of the
// other kind holding the same user in the same audience is released, so
// the earlier change is sent first. Time is passed in, so the Batcher is a
// pure state machine. Not safe for concurrent use.
type Batcher struct {
	MaxUsers int
	Interval time.Duration
	open     [2]*pending // by Kind
}

// NewBatcher returns a Batcher; zero arguments take the DMP's values.
func NewBatcher(maxUsers int, interval time.Duration) *Batcher {
	if maxUsers <= 0 {
		maxUsers = DefaultBatchSize
	}
	if interval <= 0 {
		interval = DefaultBatchInterval
	}
	return &Batcher{MaxUsers: maxUsers, Interval: interval}
}

// Add collects m at time now and returns the batches to send now, in the
// order they must be sent.
func (b *Batcher) Add(m Mutation, now time.Time) []Batch {
	var out []Batch
	key := memberKey{m.Audience, m.User.External}
	if other := b.open[1-m.Kind]; other != nil && other.keys[key] {
		out = append(out, b.take(1-m.Kind))
	}
	p := b.open[m.Kind]
	if p == nil {
		p = &pending{batch: Batch{Kind: m.Kind, opened: now}, keys: map[memberKey]bool{}}
		b.open[m.Kind] = p
	}
	p.batch.Mutations = append(p.batch.Mutations, m)
	p.keys[key] = true
	if len(p.batch.Mutations) >= b.MaxUsers {
		out = append(out, b.take(m.Kind))
	}
	return out
}

// Due returns the batches whose interval has passed at now, oldest first.
func (b *Batcher) Due(now time.Time) []Batch {
	var out []Batch
	for _, k := range b.byAge() {
		if !now.Before(b.open[k].batch.opened.Add(b.Interval)) {
			out = append(out, b.take(k))
		}
	}
	return out
}

// Flush returns every batch still open, oldest first.
func (b *Batcher) Flush() []Batch {
	var out []Batch
	for _, k := range b.byAge() {
		out = append(out, b.take(k))
	}
	return out
}

// NextDue is when the oldest open batch falls due; false when none is open.
func (b *Batcher) NextDue() (time.Time, bool) {
	kinds := b.byAge()
	if len(kinds) == 0 {
		return time.Time{}, false
	}
	return b.open[kinds[0]].batch.opened.Add(b.Interval), true
}

// byAge lists the kinds with an open batch, oldest batch first.
func (b *Batcher) byAge() []Kind {
	var kinds []Kind
	for _, k := range []Kind{Add, Remove} {
		if b.open[k] != nil {
			kinds = append(kinds, k)
		}
	}
	if len(kinds) == 2 && b.open[Remove].batch.opened.Before(b.open[Add].batch.opened) {
		kinds[0], kinds[1] = Remove, Add
	}
	return kinds
}

func (b *Batcher) take(k Kind) Batch {
	batch := b.open[k].batch
	b.open[k] = nil
	return batch
}
