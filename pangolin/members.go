package pangolin

import (
	"slices"
)

// memberSet is an audience's membership: user IDs kept in one slice in
// ascending byte order, without duplicates.
//
// A sorted slice rather than a map keeps memory per member at a string header
// (16 bytes) plus the ID's own bytes, makes paging a binary search for the
// position after the page token, and lets a snapshot be written in order
// without sorting. A batch of k changes costs O(k log k) to sort plus one
// O(n) pass over the n members, done in place without allocating once the
// slice has room. memberSet is not safe for concurrent use; the audience's
// lock guards it.
type memberSet struct {
	ids []string
}

// len reports the number of members.
func (m *memberSet) len() int { return len(m.ids) }

// has reports whether id is a member.
func (m *memberSet) has(id string) bool {
	_, found := slices.BinarySearch(m.ids, id)
	return found
}

// page returns up to size members that sort after the ID after ("" = from the
// start) and whether more members follow the page.
func (m *memberSet) page(after string, size int) (ids []string, more bool) {
	start := 0
	if after != "" {
		pos, found := slices.BinarySearch(m.ids, after)
		if found {
			pos++
		}
		start = pos
	}
	end := min(start+size, len(m.ids))
	if start >= end {
		return []string{}, false
	}
	return slices.Clone(m.ids[start:end]), end < len(m.ids)
}

// first returns up to n members from the start.
func (m *memberSet) first(n int) []string {
	return slices.Clone(m.ids[:min(n, len(m.ids))])
}

// changes works out which IDs of add are not yet members and which IDs of
// remove are members. Both results are sorted and free of duplicates. The
// inputs are not modified.
func (m *memberSet) changes(add, remove []string) (adds, removes []string) {
	adds = sortedUnique(add)
	adds = slices.DeleteFunc(adds, m.has)
	removes = sortedUnique(remove)
	removes = slices.DeleteFunc(removes, func(id string) bool { return !m.has(id) })
	return adds, removes
}

// apply removes removes and adds adds, as returned by changes: sorted,
// unique, adds absent and removes present.
func (m *memberSet) apply(adds, removes []string) {
	if len(removes) > 0 {
		m.deleteSorted(removes)
	}
	if len(adds) > 0 {
		m.mergeSorted(adds)
	}
}

// deleteSorted drops the members listed in removes in one pass.
func (m *memberSet) deleteSorted(removes []string) {
	w, r := 0, 0
	for _, id := range m.ids {
		for r < len(removes) && removes[r] < id {
			r++
		}
		if r < len(removes) && removes[r] == id {
			continue
		}
		m.ids[w] = id
		w++
	}
	clear(m.ids[w:]) // let the removed strings be collected
	m.ids = m.ids[:w]
}

// mergeSorted merges adds into the members, filling from the back so the
// slice is extended in place.
func (m *memberSet) mergeSorted(adds []string) {
	n := len(m.ids)
	m.ids = slices.Grow(m.ids, len(adds))[:n+len(adds)]
	i, j := n-1, len(adds)-1
	for w := len(m.ids) - 1; j >= 0; w-- {
		if i >= 0 && m.ids[i] > adds[j] {
			m.ids[w] = m.ids[i]
			i--
		} else {
			m.ids[w] = adds[j]
			j--
		}
	}
}

// sortedUnique returns a sorted copy of ids without duplicates.
func sortedUnique(ids []string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	return slices.Compact(out)
}
