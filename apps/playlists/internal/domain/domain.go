// Package domain holds playlists' rules: ownership, privacy, ordered entries
// and versions.
package domain

import (
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/harmonia-music/harmonia/internal/platform/fault"
)

// Entry is one track in a playlist; the same track may appear twice, so
// entries have their own ids.
type Entry struct {
	ID      string    `json:"id"`
	TrackID string    `json:"trackId"`
	AddedAt time.Time `json:"addedAt"`
}

// Playlist is a user's ordered list of tracks.
type Playlist struct {
	ID          string    `json:"id"`
	OwnerID     string    `json:"ownerId"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Public      bool      `json:"public"`
	Entries     []Entry   `json:"entries"`
	Version     int       `json:"version"`
	CreatedAt   time.Time `json:"createdAt"`
	UpdatedAt   time.Time `json:"updatedAt"`
}

// Owned lists a user's playlists, newest first.
type Owned struct {
	PlaylistIDs []string `json:"playlistIds"`
}

// Limits.
const (
	MaxEntries   = 5000
	MaxPlaylists = 1000
)

// Errors.
var (
	ErrNotFound = fault.E(fault.KindNotFound, "playlist-not-found", "no such playlist")
	ErrNotOwner = fault.E(fault.KindForbidden, "not-your-playlist", "only the playlist's owner may change it")
	ErrNoEntry  = fault.E(fault.KindNotFound, "entry-not-found", "no such entry in this playlist")
	ErrFull     = fault.E(fault.KindConflict, "playlist-full", "a playlist holds at most 5000 tracks")
	ErrTooMany  = fault.E(fault.KindConflict, "too-many-playlists", "you have the most playlists allowed")
	ErrStale    = fault.E(fault.KindPrecondition, "precondition-failed", "the playlist changed since you read it; read it again and retry")
	ErrBadOrder = fault.Invalid("entryIds", "must list every entry of the playlist exactly once")
)

// Access decides what a viewer may do: the owner everything; others may read
// a public playlist (403 on change) and may not know a private one exists (404).
func Access(p *Playlist, userID string, write bool) error {
	switch {
	case p.OwnerID == userID:
		return nil
	case !p.Public:
		return ErrNotFound
	case write:
		return ErrNotOwner
	}
	return nil
}

// CheckVersion enforces If-Match (0: not given).
func CheckVersion(p *Playlist, ifMatch int) error {
	if ifMatch != 0 && ifMatch != p.Version {
		return ErrStale
	}
	return nil
}

// ValidateName checks a name and description.
func ValidateName(v *fault.Validation, name, description string) {
	n := utf8.RuneCountInString(strings.TrimSpace(name))
	switch {
	case n == 0:
		v.Add("name", "is required")
	case n > 100:
		v.Add("name", "must be at most 100 characters")
	case strings.ContainsAny(name, "\x00\r\n"):
		v.Add("name", "must not contain control characters")
	}
	if utf8.RuneCountInString(description) > 1000 {
		v.Add("description", "must be at most 1000 characters")
	}
}

// Insert puts e at position (0-based; past the end or negative appends).
func (p *Playlist) Insert(e Entry, position int) error {
	if len(p.Entries) >= MaxEntries {
		return ErrFull
	}
	if position < 0 || position > len(p.Entries) {
		position = len(p.Entries)
	}
	p.Entries = slices.Insert(p.Entries, position, e)
	return nil
}

// Remove deletes the entry with id.
func (p *Playlist) Remove(entryID string) error {
	i := slices.IndexFunc(p.Entries, func(e Entry) bool { return e.ID == entryID })
	if i < 0 {
		return ErrNoEntry
	}
	p.Entries = slices.Delete(p.Entries, i, i+1)
	return nil
}

// Reorder puts the entries in the order of ids, which must be a permutation.
func (p *Playlist) Reorder(ids []string) error {
	if len(ids) != len(p.Entries) {
		return ErrBadOrder
	}
	byID := make(map[string]Entry, len(p.Entries))
	for _, e := range p.Entries {
		byID[e.ID] = e
	}
	out := make([]Entry, 0, len(ids))
	for _, id := range ids {
		e, ok := byID[id]
		if !ok {
			return ErrBadOrder
		}
		delete(byID, id)
		out = append(out, e)
	}
	p.Entries = out
	return nil
}
