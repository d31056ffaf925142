package pangolin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// CreateAudience creates an audience named name. With a non-empty externalID
// it is idempotent: when the account already has an audience with that
// external ID, it returns that one and created is false. created reports
// what the answering attempt saw: when an earlier attempt created the
// audience but its answer was lost, the retry finds it and created is false.
func (c *Client) CreateAudience(ctx context.Context, name, externalID string) (
	a Audience, created bool, err error) {
	status, err := c.do(ctx, request{
		method: http.MethodPost, path: "/v1/audiences",
		body: createRequest{Name: name, ExternalID: externalID}, out: &a,
	})
	if err != nil {
		return Audience{}, false, fmt.Errorf("pangolin: create audience: %w", err)
	}
	return a, status == http.StatusCreated, nil
}

// GetAudience returns the account's audience with the ID; ErrNotFound when
// there is none.
func (c *Client) GetAudience(ctx context.Context, id string) (Audience, error) {
	var a Audience
	if err := c.audienceCall(ctx, id, request{method: http.MethodGet, out: &a}); err != nil {
		return Audience{}, fmt.Errorf("pangolin: get audience %s: %w", id, err)
	}
	return a, nil
}

// ListAudiences lists the account's audiences in order of ID; with a
// non-empty externalID only the one having it (none or one).
func (c *Client) ListAudiences(ctx context.Context, externalID string) ([]Audience, error) {
	var q url.Values
	if externalID != "" {
		q = url.Values{"external_id": {externalID}}
	}
	var list audienceList
	_, err := c.do(ctx, request{method: http.MethodGet, path: "/v1/audiences", query: q,
		out: &list})
	if err != nil {
		return nil, fmt.Errorf("pangolin: list audiences: %w", err)
	}
	if list.Audiences == nil {
		list.Audiences = []Audience{}
	}
	return list.Audiences, nil
}

// UpdateMembers adds and removes members. Lists longer than
// MaxIDsPerUpdate together are sent in several calls; the result sums them,
// with Size from the last. A user may not be in both lists, and every ID must
// have 1 to MaxUserIDBytes bytes: otherwise ErrInvalidArgument, before any
// call. If a later call fails, the result counts the calls that succeeded;
// repeating the whole update is safe.
func (c *Client) UpdateMembers(ctx context.Context, audienceID string, add, remove []string) (
	UpdateResult, error) {
	if err := checkUpdate(add, remove); err != nil {
		return UpdateResult{}, fmt.Errorf("pangolin: update members of %s: %w", audienceID, err)
	}
	var total UpdateResult
	for _, b := range splitUpdate(add, remove, MaxIDsPerUpdate) {
		var res UpdateResult
		err := c.audienceCall(ctx, audienceID, request{
			method: http.MethodPost, path: "/members:batchUpdate", body: b, out: &res,
		})
		if err != nil {
			return total, fmt.Errorf("pangolin: update members of %s: %w", audienceID, err)
		}
		total.Added += res.Added
		total.Removed += res.Removed
		total.Size = res.Size
	}
	return total, nil
}

// checkUpdate checks an update as the server would, naming IDs by position.
func checkUpdate(add, remove []string) error {
	inAdd := make(map[string]struct{}, len(add))
	for i, id := range add {
		if id == "" || len(id) > MaxUserIDBytes {
			return fmt.Errorf("add[%d]: a user ID must have 1 to %d bytes: %w",
				i, MaxUserIDBytes, ErrInvalidArgument)
		}
		inAdd[id] = struct{}{}
	}
	for i, id := range remove {
		if id == "" || len(id) > MaxUserIDBytes {
			return fmt.Errorf("remove[%d]: a user ID must have 1 to %d bytes: %w",
				i, MaxUserIDBytes, ErrInvalidArgument)
		}
		if _, ok := inAdd[id]; ok {
			return fmt.Errorf("remove[%d]: the user is also in add: %w", i, ErrInvalidArgument)
		}
	}
	return nil
}

// splitUpdate cuts add, then remove, into requests of at most limit IDs.
// There is always at least one request.
func splitUpdate(add, remove []string, limit int) []batchUpdateRequest {
	var out []batchUpdateRequest
	cur := batchUpdateRequest{Add: []string{}, Remove: []string{}}
	for len(add)+len(remove) > 0 {
		room := limit - len(cur.Add) - len(cur.Remove)
		n := min(room, len(add))
		cur.Add, add = append(cur.Add, add[:n]...), add[n:]
		m := min(room-n, len(remove))
		cur.Remove, remove = append(cur.Remove, remove[:m]...), remove[m:]
		if len(cur.Add)+len(cur.Remove) == limit {
			out = append(out, cur)
			cur = batchUpdateRequest{Add: []string{}, Remove: []string{}}
		}
	}
	if len(cur.Add)+len(cur.Remove) > 0 || len(out) == 0 {
		out = append(out, cur)
	}
	return out
}

// ListMembers returns one page of members in ascending byte order. pageSize
// 0 means the server's default (1000); more than 10000 counts as 10000.
// pageToken is "" for the first page, then the next token returned; next is
// "" after the last page.
func (c *Client) ListMembers(ctx context.Context, audienceID string, pageSize int,
	pageToken string) (ids []string, next string, err error) {
	q := url.Values{}
	if pageSize > 0 {
		q.Set("page_size", strconv.Itoa(pageSize))
	}
	if pageToken != "" {
		q.Set("page_token", pageToken)
	}
	var page memberPage
	err = c.audienceCall(ctx, audienceID, request{
		method: http.MethodGet, path: "/members", query: q, out: &page,
	})
	if err != nil {
		return nil, "", fmt.Errorf("pangolin: list members of %s: %w", audienceID, err)
	}
	if page.UserIDs == nil {
		page.UserIDs = []string{}
	}
	return page.UserIDs, page.NextPageToken, nil
}

// AllMembers returns every member in ascending byte order, reading pages of
// MaxPageSize. Members changed while it reads may or may not be included.
func (c *Client) AllMembers(ctx context.Context, audienceID string) ([]string, error) {
	all := []string{}
	token := ""
	for {
		ids, next, err := c.ListMembers(ctx, audienceID, MaxPageSize, token)
		if err != nil {
			return all, err
		}
		all = append(all, ids...)
		if next == "" {
			return all, nil
		}
		token = next
	}
}

// IsMember reports whether userID is a member of the audience; ErrNotFound
// when the account has no such audience.
func (c *Client) IsMember(ctx context.Context, audienceID, userID string) (bool, error) {
	if userID == "" {
		return false, fmt.Errorf("pangolin: is member: empty user ID: %w", ErrInvalidArgument)
	}
	err := c.audienceCall(ctx, audienceID, request{
		method: http.MethodGet, path: "/members/" + escapeSegment(userID),
	})
	if err == nil {
		return true, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return false, fmt.Errorf("pangolin: is member of %s: %w", audienceID, err)
	}
	// 404 says either "no such member" or "no such audience".
	if _, err := c.GetAudience(ctx, audienceID); err != nil {
		return false, err
	}
	return false, nil
}

// audienceCall sends req with its path below the audience's.
func (c *Client) audienceCall(ctx context.Context, id string, req request) error {
	if id == "" {
		return fmt.Errorf("empty audience ID: %w", ErrInvalidArgument)
	}
	req.path = "/v1/audiences/" + escapeSegment(id) + req.path
	_, err := c.do(ctx, req)
	return err
}

// escapeSegment escapes s as one path segment, including "." and "..",
// which routers would otherwise resolve.
func escapeSegment(s string) string {
	switch s {
	case ".":
		return "%2E"
	case "..":
		return "%2E%2E"
	}
	return url.PathEscape(s)
}
