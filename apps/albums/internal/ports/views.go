package ports

import (
	"time"

	"github.com/harmonia-music/harmonia/apps/albums/internal/app"
	"github.com/harmonia-music/harmonia/apps/albums/internal/domain"
)

// The catalogue as clients see it: the wire shapes live here, apart from
// the stored ones, so the store can change without changing the API (and a
// storage detail such as an audio file's key never reaches a client).

type artistView struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Genres      []string  `json:"genres"`
	OwnerUserID string    `json:"ownerUserId,omitempty"`
	Version     int       `json:"version"`
	CreatedAt   time.Time `json:"createdAt"`
}

func artistOf(a *domain.Artist) artistView {
	return artistView{ID: a.ID, Name: a.Name, Genres: nonNil(a.Genres), OwnerUserID: a.OwnerUserID, Version: a.CurrentVersion(), CreatedAt: a.CreatedAt}
}

type artistSummaryView struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Genres      []string `json:"genres"`
	OwnerUserID string   `json:"ownerUserId,omitempty"`
}

func artistSummaryOf(a domain.ArtistSummary) artistSummaryView {
	return artistSummaryView{ID: a.ID, Name: a.Name, Genres: nonNil(a.Genres), OwnerUserID: a.OwnerUserID}
}

type albumView struct {
	ID          string     `json:"id"`
	ArtistID    string     `json:"artistId"`
	Title       string     `json:"title"`
	Genre       string     `json:"genre"`
	ReleaseDate string     `json:"releaseDate"`
	Status      string     `json:"status"`
	TrackIDs    []string   `json:"trackIds"`
	Version     int        `json:"version"`
	PublishedAt *time.Time `json:"publishedAt,omitempty"`
	CreatedAt   time.Time  `json:"createdAt"`
	UpdatedAt   time.Time  `json:"updatedAt"`
}

func albumOf(a *domain.Album) albumView {
	return albumView{ID: a.ID, ArtistID: a.ArtistID, Title: a.Title, Genre: a.Genre, ReleaseDate: a.ReleaseDate,
		Status: a.Status, TrackIDs: nonNil(a.TrackIDs), Version: a.Version, PublishedAt: a.PublishedAt,
		CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt}
}

type albumSummaryView struct {
	ID          string `json:"id"`
	ArtistID    string `json:"artistId"`
	Title       string `json:"title"`
	Genre       string `json:"genre"`
	ReleaseDate string `json:"releaseDate"`
	Status      string `json:"status"`
	Tracks      int    `json:"tracks"`
}

func albumSummaryOf(a domain.AlbumSummary) albumSummaryView {
	return albumSummaryView{ID: a.ID, ArtistID: a.ArtistID, Title: a.Title, Genre: a.Genre, ReleaseDate: a.ReleaseDate,
		Status: a.Status, Tracks: a.Tracks}
}

// albumDetailView is an album with its artist and tracks.
type albumDetailView struct {
	albumView
	Artist artistSummaryView `json:"artist"`
	Tracks []trackView       `json:"tracks"`
}

func albumDetailOf(v *app.AlbumView) albumDetailView {
	out := albumDetailView{albumView: albumOf(&v.Album), Artist: artistSummaryOf(v.Artist), Tracks: make([]trackView, len(v.Tracks))}
	for i := range v.Tracks {
		out.Tracks[i] = trackOf(&v.Tracks[i])
	}
	return out
}

type audioView struct {
	Format     string    `json:"format"`
	MimeType   string    `json:"mimeType"`
	Size       int       `json:"size"`
	DurationMs int64     `json:"durationMs"`
	SHA256     string    `json:"sha256"`
	UploadedAt time.Time `json:"uploadedAt"`
}

type trackView struct {
	ID          string     `json:"id"`
	AlbumID     string     `json:"albumId"`
	ArtistID    string     `json:"artistId"`
	Title       string     `json:"title"`
	TrackNumber int        `json:"trackNumber"`
	Audio       *audioView `json:"audio,omitempty"`
	CreatedAt   time.Time  `json:"createdAt"`
}

func trackOf(t *domain.Track) trackView {
	v := trackView{ID: t.ID, AlbumID: t.AlbumID, ArtistID: t.ArtistID, Title: t.Title, TrackNumber: t.TrackNumber, CreatedAt: t.CreatedAt}
	if a := t.Audio; a != nil {
		v.Audio = &audioView{Format: a.Format, MimeType: a.MimeType, Size: a.Size, DurationMs: a.DurationMs, SHA256: a.SHA256, UploadedAt: a.UploadedAt}
	}
	return v
}

type pageView[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"nextCursor,omitempty"`
}

func pageOf[D, V any](p domain.Page[D], view func(D) V) pageView[V] {
	out := pageView[V]{Items: make([]V, len(p.Items)), NextCursor: p.NextCursor}
	for i, it := range p.Items {
		out.Items[i] = view(it)
	}
	return out
}

// artistRequest is the body of POST /api/v1/artists.
// artistPatchRequest changes an artist: absent fields stay.
type artistPatchRequest struct {
	Name   *string  `json:"name"`
	Genres []string `json:"genres"`
}

type artistRequest struct {
	Name        string   `json:"name"`
	Genres      []string `json:"genres"`
	OwnerUserID string   `json:"ownerUserId"`
}

func nonNil(xs []string) []string {
	if xs == nil {
		return []string{}
	}
	return xs
}
