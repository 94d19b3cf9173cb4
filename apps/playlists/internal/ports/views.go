package ports

import (
	"time"

	"github.com/harmonia-music/harmonia/apps/playlists/internal/domain"
)

type entryView struct {
	ID      string    `json:"id"`
	TrackID string    `json:"trackId"`
	AddedAt time.Time `json:"addedAt"`
}

// playlistView is a playlist as clients see it.
type playlistView struct {
	ID          string      `json:"id"`
	OwnerID     string      `json:"ownerId"`
	Name        string      `json:"name"`
	Description string      `json:"description"`
	Public      bool        `json:"public"`
	Entries     []entryView `json:"entries"`
	Version     int         `json:"version"`
	CreatedAt   time.Time   `json:"createdAt"`
	UpdatedAt   time.Time   `json:"updatedAt"`
}

func playlistOf(p *domain.Playlist) playlistView {
	v := playlistView{ID: p.ID, OwnerID: p.OwnerID, Name: p.Name, Description: p.Description, Public: p.Public,
		Entries: make([]entryView, len(p.Entries)), Version: p.Version, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt}
	for i, e := range p.Entries {
		v.Entries[i] = entryView{ID: e.ID, TrackID: e.TrackID, AddedAt: e.AddedAt}
	}
	return v
}

type playlistPage struct {
	Items      []playlistView `json:"items"`
	NextCursor string         `json:"nextCursor"`
}
