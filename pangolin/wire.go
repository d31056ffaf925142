package pangolin

import "time"

// Limits of the API.
const (
	// MaxIDsPerUpdate is the most user IDs, add and remove together, that one
	// members:batchUpdate call accepts.
	MaxIDsPerUpdate = 10000
	// MaxUserIDBytes is the longest user ID accepted.
	MaxUserIDBytes = 256
	// DefaultPageSize is the page size of a members listing without one.
	DefaultPageSize = 1000
	// MaxPageSize is the largest page of a members listing.
	MaxPageSize = 10000
	// DevAPIKey is the development key cmd/pangolin accepts when it is given
	// no keys. Never use it outside a local machine.
	DevAPIKey = "dev-pangolin-key"
)

// Audience is an audience as the API shows it.
type Audience struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	ExternalID string    `json:"external_id"`
	Size       int       `json:"size"`
	CreatedAt  time.Time `json:"created_at"`
}

// UpdateResult is the outcome of changing an audience's members.
type UpdateResult struct {
	Added   int `json:"added"`   // users that were not members before
	Removed int `json:"removed"` // users that were members before
	Size    int `json:"size"`    // members after the change
}

type createRequest struct {
	Name       string `json:"name"`
	ExternalID string `json:"external_id"`
}

type audienceList struct {
	Audiences []Audience `json:"audiences"`
}

type batchUpdateRequest struct {
	Add    []string `json:"add"`
	Remove []string `json:"remove"`
}

type memberPage struct {
	UserIDs       []string `json:"user_ids"`
	NextPageToken string   `json:"next_page_token"`
}

type memberAnswer struct {
	UserID string `json:"user_id"`
}
