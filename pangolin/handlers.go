package pangolin

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// Limits on audience fields.
const (
	maxNameBytes       = 1024
	maxExternalIDBytes = 256
	maxPageTokenBytes  = 2 * MaxUserIDBytes
)

// handleCreate creates an audience, or returns the account's audience that
// already has the external ID (then name is ignored).
func (s *Server) handleCreate(w http.ResponseWriter, r *http.Request, account string) {
	var req createRequest
	if !decodeBody(w, r, maxCreateBody, &req) {
		return
	}
	if msg := validateCreate(req); msg != "" {
		writeError(w, http.StatusBadRequest, codeInvalidArgument, msg)
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		writeClosed(w)
		return
	}
	acc := s.accountFor(account)
	if a := acc.byExternal[req.ExternalID]; req.ExternalID != "" && a != nil {
		writeJSON(w, http.StatusOK, a.view()) // a.mu not needed: mu is held exclusively
		return
	}
	a := &audience{
		id:         strconv.FormatUint(s.nextID, 10),
		name:       req.Name,
		externalID: req.ExternalID,
		account:    account,
		createdAt:  time.Now().UTC().Truncate(time.Second),
	}
	if err := s.journal(createRecord(a)); err != nil {
		writeError(w, http.StatusInternalServerError, codeInternal, "saving the audience failed")
		return
	}
	s.insert(a)
	writeJSON(w, http.StatusCreated, a.view())
}

func validateCreate(req createRequest) string {
	switch {
	case req.Name == "":
		return "name is required"
	case len(req.Name) > maxNameBytes:
		return fmt.Sprintf("name is longer than %d bytes", maxNameBytes)
	case len(req.ExternalID) > maxExternalIDBytes:
		return fmt.Sprintf("external_id is longer than %d bytes", maxExternalIDBytes)
	}
	return ""
}

// handleList lists the account's audiences in order of ID, optionally only
// the one with ?external_id=.
func (s *Server) handleList(w http.ResponseWriter, r *http.Request, account string) {
	ext := r.URL.Query().Get("external_id")

	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		writeClosed(w)
		return
	}
	var found []*audience
	if acc := s.accounts[account]; acc != nil && ext != "" {
		if a := acc.byExternal[ext]; a != nil {
			found = append(found, a)
		}
	} else if acc != nil {
		for _, a := range acc.audiences {
			found = append(found, a)
		}
		slices.SortFunc(found, compareIDs)
	}
	list := audienceList{Audiences: make([]Audience, 0, len(found))}
	for _, a := range found {
		a.mu.RLock()
		list.Audiences = append(list.Audiences, a.view())
		a.mu.RUnlock()
	}
	writeJSON(w, http.StatusOK, list)
}

// compareIDs orders audiences by their decimal IDs.
func compareIDs(a, b *audience) int {
	if len(a.id) != len(b.id) {
		return len(a.id) - len(b.id)
	}
	switch {
	case a.id < b.id:
		return -1
	case a.id > b.id:
		return 1
	}
	return 0
}

func (s *Server) handleGet(w http.ResponseWriter, r *http.Request, account string) {
	s.withAudience(w, r, account, func(a *audience) {
		a.mu.RLock()
		v := a.view()
		a.mu.RUnlock()
		writeJSON(w, http.StatusOK, v)
	})
}

// handleBatchUpdate changes membership. Only effective changes are written to
// the journal, so a retried call costs no disk write.
func (s *Server) handleBatchUpdate(w http.ResponseWriter, r *http.Request, account string) {
	// The body is read before any lock is taken, so a slow sender holds up
	// nobody.
	var req batchUpdateRequest
	if !decodeBody(w, r, maxUpdateBody, &req) {
		return
	}
	if status, code, msg := validateUpdate(req); status != 0 {
		writeError(w, status, code, msg)
		return
	}

	s.withAudience(w, r, account, func(a *audience) {
		a.mu.Lock()
		defer a.mu.Unlock()
		adds, removes := a.members.changes(req.Add, req.Remove)
		if len(adds)+len(removes) > 0 {
			if err := s.journal(updateRecord(a.id, adds, removes)); err != nil {
				writeError(w, http.StatusInternalServerError, codeInternal,
					"saving the change failed")
				return
			}
			a.members.apply(adds, removes)
		}
		writeJSON(w, http.StatusOK, UpdateResult{
			Added: len(adds), Removed: len(removes), Size: a.members.len(),
		})
	})
}

// validateUpdate checks the limits of one batchUpdate. It names offending
// IDs by position, never by value.
func validateUpdate(req batchUpdateRequest) (status int, code, msg string) {
	if n := len(req.Add) + len(req.Remove); n > MaxIDsPerUpdate {
		return http.StatusRequestEntityTooLarge, codeTooLarge,
			fmt.Sprintf("%d user IDs in one call; at most %d", n, MaxIDsPerUpdate)
	}
	lists := []struct {
		name string
		ids  []string
	}{{"add", req.Add}, {"remove", req.Remove}}
	for _, l := range lists {
		for i, id := range l.ids {
			if id == "" || len(id) > MaxUserIDBytes {
				return http.StatusBadRequest, codeInvalidArgument, fmt.Sprintf(
					"%s[%d]: a user ID must have 1 to %d bytes", l.name, i, MaxUserIDBytes)
			}
		}
	}
	inAdd := make(map[string]struct{}, len(req.Add))
	for _, id := range req.Add {
		inAdd[id] = struct{}{}
	}
	for i, id := range req.Remove {
		if _, ok := inAdd[id]; ok {
			return http.StatusBadRequest, codeInvalidArgument, fmt.Sprintf(
				"remove[%d]: the user is also in add; decide one final state", i)
		}
	}
	return 0, "", ""
}

// handleListMembers answers one page of members in ascending byte order. The
// page token is the last user ID of the previous page, base64url-encoded, so
// a page costs a binary search plus copying it, and paging stays consistent
// while the audience changes.
func (s *Server) handleListMembers(w http.ResponseWriter, r *http.Request, account string) {
	size, after, msg := pageParams(r)
	if msg != "" {
		writeError(w, http.StatusBadRequest, codeInvalidArgument, msg)
		return
	}
	s.withAudience(w, r, account, func(a *audience) {
		a.mu.RLock()
		ids, more := a.members.page(after, size)
		a.mu.RUnlock()
		page := memberPage{UserIDs: ids}
		if more {
			page.NextPageToken = base64.RawURLEncoding.EncodeToString([]byte(ids[len(ids)-1]))
		}
		writeJSON(w, http.StatusOK, page)
	})
}

// pageParams reads page_size and page_token.
func pageParams(r *http.Request) (size int, after, msg string) {
	q := r.URL.Query()
	size = DefaultPageSize
	if v := q.Get("page_size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return 0, "", "page_size must be a whole number >= 0"
		}
		if n > 0 {
			size = min(n, MaxPageSize)
		}
	}
	tok := q.Get("page_token")
	if len(tok) > maxPageTokenBytes {
		return 0, "", "page_token is not one this server issued"
	}
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return 0, "", "page_token is not one this server issued"
	}
	return size, string(raw), ""
}

func (s *Server) handleIsMember(w http.ResponseWriter, r *http.Request, account string) {
	user := r.PathValue("user_id")
	s.withAudience(w, r, account, func(a *audience) {
		a.mu.RLock()
		ok := a.members.has(user)
		a.mu.RUnlock()
		if !ok {
			writeError(w, http.StatusNotFound, codeNotFound, "the user is not a member")
			return
		}
		writeJSON(w, http.StatusOK, memberAnswer{UserID: user})
	})
}

// withAudience runs fn on the account's audience named in the path while
// holding mu shared, or answers 404.
func (s *Server) withAudience(w http.ResponseWriter, r *http.Request, account string,
	fn func(a *audience)) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		writeClosed(w)
		return
	}
	a := s.lookup(account, r.PathValue("id"))
	if a == nil {
		writeError(w, http.StatusNotFound, codeNotFound, "no such audience in this account")
		return
	}
	fn(a)
}

func writeClosed(w http.ResponseWriter) {
	writeError(w, http.StatusServiceUnavailable, codeUnavailable, "the server is shutting down")
}
