// Package domain holds search's rules: what a document is, which kinds
// there are, and what a valid query looks like.
package domain

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/harmonia-music/harmonia/internal/platform/fault"
)

// Kind is a type of search result.
type Kind string

// The kinds, in the order results list them.
const (
	Track    Kind = "track"
	Album    Kind = "album"
	Artist   Kind = "artist"
	Playlist Kind = "playlist"
)

// Kinds are every kind, in answer order.
var Kinds = []Kind{Track, Album, Artist, Playlist}

// Doc is one searchable thing. Hidden documents (private or deleted
// playlists) are kept only for their version: a late, older event must not
// bring them back.
type Doc struct {
	Kind       Kind   `json:"kind"`
	ID         string `json:"id"`
	Name       string `json:"name"` // a track's or album's title, an artist's or playlist's name
	ArtistID   string `json:"artistId,omitempty"`
	ArtistName string `json:"artistName,omitempty"`
	AlbumID    string `json:"albumId,omitempty"`
	AlbumTitle string `json:"albumTitle,omitempty"`
	Genre      string `json:"genre,omitempty"`
	Year       int    `json:"year,omitempty"`
	DurationMs int64  `json:"durationMs,omitempty"`
	TrackCount int    `json:"trackCount,omitempty"`
	OwnerID    string `json:"ownerId,omitempty"`
	Number     int    `json:"number,omitempty"`
	Version    int    `json:"version"`
	Hidden     bool   `json:"hidden,omitempty"`
}

// Key is the document's key in the index: kind and id.
func (d Doc) Key() string { return Key(d.Kind, d.ID) }

// Key is the index key of a kind's id.
func Key(k Kind, id string) string { return string(k) + ":" + id }

// Decade is "1990s" for a year in the nineties; "" without a year.
func (d Doc) Decade() string {
	if d.Year <= 0 {
		return ""
	}
	return strconv.Itoa(d.Year/10*10) + "s"
}

// YearOf reads the year of a release date ("2024-05-01" → 2024).
func YearOf(date string) int {
	if len(date) < 4 {
		return 0
	}
	y, err := strconv.Atoi(date[:4])
	if err != nil {
		return 0
	}
	return y
}

// Newer reports whether a change at version v may replace d: versions only
// go up (an event arriving late, or twice, changes nothing).
func (d *Doc) Newer(v int) bool { return d == nil || v > d.Version }

// Limits of a query.
const (
	MaxQueryLength = 200
	MaxLimit       = 50
	MaxSuggest     = 10
	// MaxDepth bounds how far a cursor pages into one kind's results.
	MaxDepth = 500
)

// Query is a validated search.
type Query struct {
	Text   string
	Kinds  []Kind
	Limit  int
	Offset int // from the cursor; only with one kind
	Facets bool
}

// ParseKinds reads the comma list of kinds ("" for all).
func ParseKinds(s string) ([]Kind, error) {
	if strings.TrimSpace(s) == "" {
		return Kinds, nil
	}
	var out []Kind
	seen := map[Kind]bool{}
	for _, part := range strings.Split(s, ",") {
		k := Kind(strings.TrimSpace(part))
		switch k {
		case Track, Album, Artist, Playlist:
		default:
			return nil, fault.Invalid("type", "unknown type "+strconv.Quote(string(k))+"; use track, album, artist or playlist")
		}
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out, nil
}

// CheckText validates q.
func CheckText(q string) (string, error) {
	q = strings.TrimSpace(q)
	switch n := utf8.RuneCountInString(q); {
	case n == 0:
		return "", fault.Invalid("q", "is required")
	case n > MaxQueryLength:
		return "", fault.Invalid("q", "must be at most 200 characters")
	case strings.ContainsRune(q, 0):
		return "", fault.Invalid("q", "must not contain control characters")
	}
	return q, nil
}
