package main

import (
	"math/rand/v2"
	"slices"
)

// Model is the simulated DMP's view of every audience's members: the state
// the platform must reach once every mutation sent so far is applied. It
// is not safe for concurrent use; the generator owns it while streaming.
type Model struct {
	audiences []memberSet
}

// memberSet is a set of user IDs that can also pick a random member in
// constant time: the IDs live in a slice, and a map holds their positions.
type memberSet struct {
	list []string
	pos  map[string]int
}

// NewModel returns a model of n audiences, all empty.
func NewModel(n int) *Model {
	m := &Model{audiences: make([]memberSet, n)}
	for i := range m.audiences {
		m.audiences[i].pos = make(map[string]int)
	}
	return m
}

// Add makes user a member of audience aud; adding a member is a no-op.
func (m *Model) Add(aud int, user string) {
	s := &m.audiences[aud]
	if _, ok := s.pos[user]; ok {
		return
	}
	s.pos[user] = len(s.list)
	s.list = append(s.list, user)
}

// Remove takes user out of audience aud; removing a non-member is a no-op.
func (m *Model) Remove(aud int, user string) {
	s := &m.audiences[aud]
	i, ok := s.pos[user]
	if !ok {
		return
	}
	last := len(s.list) - 1
	s.list[i] = s.list[last]
	s.pos[s.list[i]] = i
	s.list = s.list[:last]
	delete(s.pos, user)
}

// Has reports whether user is a member of audience aud.
func (m *Model) Has(aud int, user string) bool {
	_, ok := m.audiences[aud].pos[user]
	return ok
}

// Len is the number of members of audience aud.
func (m *Model) Len(aud int) int { return len(m.audiences[aud].list) }

// Pick returns a member of audience aud chosen with r, or false when the
// audience is empty. The choice depends only on r and on the sequence of
// changes made so far, so it is reproducible.
func (m *Model) Pick(aud int, r *rand.Rand) (string, bool) {
	s := &m.audiences[aud]
	if len(s.list) == 0 {
		return "", false
	}
	return s.list[r.IntN(len(s.list))], true
}

// Members returns audience aud's members in ascending byte order.
func (m *Model) Members(aud int) []string {
	out := slices.Clone(m.audiences[aud].list)
	slices.Sort(out)
	return out
}

// Total is the number of memberships over all audiences.
func (m *Model) Total() int {
	n := 0
	for i := range m.audiences {
		n += len(m.audiences[i].list)
	}
	return n
}
