// Package exports holds the wire types of the internal export endpoints that
// search rebuilds its index from (albums: GET /internal/export/artists and
// /internal/export/albums; playlists: GET /internal/export/playlists), so the
// exporting service and search cannot drift apart. Pages are
// {"items":[...],"nextCursor":"..."}; an empty nextCursor ends the export.
package exports

import (
	"time"

	"github.com/harmonia-music/harmonia/internal/events"
)

// Page is one page of an export.
type Page[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"nextCursor,omitempty"`
}

// Artist is a catalogue artist as search indexes it.
type Artist struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Genres  []string `json:"genres"`
	Version int      `json:"version"`
}

// Album is a published album with its tracks, as search indexes it: the
// same facts album.published carries.
type Album struct {
	ID          string              `json:"id"`
	ArtistID    string              `json:"artistId"`
	ArtistName  string              `json:"artistName"`
	Title       string              `json:"title"`
	Genre       string              `json:"genre"`
	ReleaseDate string              `json:"releaseDate"`
	Version     int                 `json:"version"`
	Tracks      []events.TrackFacts `json:"tracks"`
	PublishedAt time.Time           `json:"publishedAt"`
}

// Playlist is a public playlist as search indexes it.
type Playlist struct {
	ID         string    `json:"id"`
	OwnerID    string    `json:"ownerId"`
	Name       string    `json:"name"`
	TrackCount int       `json:"trackCount"`
	Version    int       `json:"version"`
	UpdatedAt  time.Time `json:"updatedAt"`
}

// Contacts is users' answer to POST /internal/contacts (notifications asks
// for up to MaxContacts listeners at a time): how to reach each listener and
// what they agreed to. A listener users does not know (deleted, or never
// there) is left out.
type Contacts struct {
	Items []Contact `json:"items"`
}

// ContactsRequest asks for listeners' contacts.
type ContactsRequest struct {
	UserIDs []string `json:"userIds"`
}

// MaxContacts bounds one contacts request.
const MaxContacts = 200

// Contact is one listener's address, name and channel choices.
type Contact struct {
	UserID         string                `json:"userId"`
	Email          string                `json:"email"`
	DisplayName    string                `json:"displayName"`
	Phone          string                `json:"phone,omitempty"`
	Channels       events.ChannelChoices `json:"channels"`
	MarketingOptIn bool                  `json:"marketingOptIn"`
}
