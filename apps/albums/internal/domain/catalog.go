// Package domain holds the catalogue's rules: artists, albums and tracks,
// who may see and change them, how lists sort and page, and audio.
package domain

import (
	"hash/fnv"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/harmonia-music/harmonia/internal/platform/cursor"
	"github.com/harmonia-music/harmonia/internal/platform/fault"
	"github.com/harmonia-music/harmonia/internal/platform/validate"
)

// Album states.
const (
	Draft     = "draft"
	Published = "published"
)

// Artist is a performer; OwnerUserID links the artist account that manages it.
type Artist struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Genres      []string `json:"genres"`
	OwnerUserID string   `json:"ownerUserId,omitempty"`
	// Version counts changes (1 at creation; 0 in records from before it
	// was kept, read as 1); artist.* events carry it.
	Version   int        `json:"version,omitempty"`
	CreatedAt time.Time  `json:"createdAt"`
	UpdatedAt *time.Time `json:"updatedAt,omitempty"`
}

// CurrentVersion is Version, counting a record without one as version 1.
func (a *Artist) CurrentVersion() int { return max(a.Version, 1) }

// Album is a release with ordered tracks.
type Album struct {
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

// Audio describes a track's uploaded file.
type Audio struct {
	Key        string    `json:"key"`
	Format     string    `json:"format"`
	MimeType   string    `json:"mimeType"`
	Size       int       `json:"size"`
	DurationMs int64     `json:"durationMs"`
	SHA256     string    `json:"sha256"`
	UploadedAt time.Time `json:"uploadedAt"`
	// ChunkSize and Chunks say how the file is stored: Chunks objects of
	// ChunkSize bytes (the last shorter) under Key's chunk keys. 0: one
	// object under Key (stored before chunking; migrated at start).
	ChunkSize int `json:"chunkSize,omitempty"`
	Chunks    int `json:"chunks,omitempty"`
	// DataStart and BlockAlign are the probe's (a preview is cut from them
	// without reading the whole file).
	DataStart  int `json:"dataStart,omitempty"`
	BlockAlign int `json:"blockAlign,omitempty"`
}

// Info is what a preview needs of the probe.
func (a Audio) Info() AudioInfo {
	return AudioInfo{Format: a.Format, MimeType: a.MimeType, Duration: time.Duration(a.DurationMs) * time.Millisecond,
		DataStart: a.DataStart, BlockAlign: a.BlockAlign}
}

// Track is one song on an album.
type Track struct {
	ID          string    `json:"id"`
	AlbumID     string    `json:"albumId"`
	ArtistID    string    `json:"artistId"`
	Title       string    `json:"title"`
	TrackNumber int       `json:"trackNumber"`
	Audio       *Audio    `json:"audio,omitempty"`
	CreatedAt   time.Time `json:"createdAt"`
}

// Errors.
var (
	ErrArtistNotFound = fault.E(fault.KindNotFound, "artist-not-found", "no such artist")
	ErrAlbumNotFound  = fault.E(fault.KindNotFound, "album-not-found", "no such album")
	ErrTrackNotFound  = fault.E(fault.KindNotFound, "track-not-found", "no such track")
	ErrNoAudio        = fault.E(fault.KindNotFound, "no-audio", "this track has no audio yet")
	ErrNotYours       = fault.E(fault.KindForbidden, "not-your-artist", "only the artist's own account or an admin may change this")
	ErrEmptyAlbum     = fault.E(fault.KindConflict, "album-empty", "an album needs at least one track with audio before it is published")
	ErrTrackNumber    = fault.E(fault.KindConflict, "track-number-taken", "this album already has a track with that number")
	ErrPublished      = fault.E(fault.KindConflict, "album-published", "a published album cannot take new tracks; add them before publishing")
)

// Viewer is who asks.
type Viewer struct {
	UserID  string
	IsAdmin bool
}

// Manages reports whether v may change the artist's catalogue.
func (v Viewer) Manages(a *Artist) bool {
	return v.IsAdmin || (a.OwnerUserID != "" && a.OwnerUserID == v.UserID)
}

// CanSee reports whether v may see the album: published ones are for
// everyone; drafts only for the artist's account and admins.
func (v Viewer) CanSee(al *Album, artist *Artist) bool {
	return al.Status == Published || (artist != nil && v.Manages(artist))
}

func text(v *fault.Validation, field, s string, max int) {
	n := utf8.RuneCountInString(strings.TrimSpace(s))
	switch {
	case n == 0:
		v.Add(field, "is required")
	case n > max:
		v.Add(field, "must be at most %d characters", max)
	case strings.ContainsAny(s, "\x00\r\n"):
		v.Add(field, "must not contain control characters")
	}
}

// NormalizeGenre lower-cases and checks a genre.
func NormalizeGenre(v *fault.Validation, field, g string) string {
	g = strings.ToLower(strings.TrimSpace(g))
	text(v, field, g, 40)
	return g
}

// ValidateArtist checks a new artist.
func ValidateArtist(a *Artist) error {
	var v fault.Validation
	text(&v, "name", a.Name, 120)
	if len(a.Genres) > 10 {
		v.Add("genres", "must list at most 10 genres")
	}
	for i, g := range a.Genres {
		a.Genres[i] = NormalizeGenre(&v, "genres", g)
	}
	if a.OwnerUserID != "" {
		if m := validate.ID(a.OwnerUserID); m != "" {
			v.Add("ownerUserId", "%s", m)
		}
	}
	return v.Err()
}

// ValidateAlbum checks an album's editable fields.
func ValidateAlbum(a *Album) error {
	var v fault.Validation
	text(&v, "title", a.Title, 200)
	a.Genre = NormalizeGenre(&v, "genre", a.Genre)
	if _, err := time.Parse("2006-01-02", a.ReleaseDate); err != nil {
		v.Add("releaseDate", "must be a date like 2024-05-31")
	}
	return v.Err()
}

// ValidateTrack checks a new track.
func ValidateTrack(t *Track) error {
	var v fault.Validation
	text(&v, "title", t.Title, 200)
	if t.TrackNumber < 1 || t.TrackNumber > 999 {
		v.Add("trackNumber", "must be between 1 and 999")
	}
	return v.Err()
}

// AlbumSummary is an album's line in the catalogue index.
type AlbumSummary struct {
	ID          string `json:"id"`
	ArtistID    string `json:"artistId"`
	Title       string `json:"title"`
	Genre       string `json:"genre"`
	ReleaseDate string `json:"releaseDate"`
	Status      string `json:"status"`
	Tracks      int    `json:"tracks"`
}

// Summary of an album.
func (a *Album) Summary() AlbumSummary {
	return AlbumSummary{ID: a.ID, ArtistID: a.ArtistID, Title: a.Title, Genre: a.Genre, ReleaseDate: a.ReleaseDate,
		Status: a.Status, Tracks: len(a.TrackIDs)}
}

// ArtistSummary is an artist's line in the catalogue index.
type ArtistSummary struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Genres      []string `json:"genres"`
	OwnerUserID string   `json:"ownerUserId,omitempty"`
}

// Index lists every artist and album; it is one state document so that a
// write and its index update commit together.
type Index struct {
	Artists []ArtistSummary `json:"artists"`
	Albums  []AlbumSummary  `json:"albums"`
}

// IndexShards is how many documents the catalogue index is split into: an
// artist's or an album's summary lives in shard IndexShard(id), so a write
// of one album rewrites one small document, not the whole catalogue.
const IndexShards = 64

// IndexShard is the shard of an artist's or an album's id.
func IndexShard(id string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(id))
	return int(h.Sum32() % IndexShards)
}

// Merge adds o's summaries to ix.
func (ix *Index) Merge(o *Index) {
	ix.Artists = append(ix.Artists, o.Artists...)
	ix.Albums = append(ix.Albums, o.Albums...)
}

// Split groups ix's summaries by shard.
func (ix *Index) Split() map[int]*Index {
	out := map[int]*Index{}
	at := func(id string) *Index {
		n := IndexShard(id)
		if out[n] == nil {
			out[n] = &Index{Artists: []ArtistSummary{}, Albums: []AlbumSummary{}}
		}
		return out[n]
	}
	for _, a := range ix.Artists {
		sh := at(a.ID)
		sh.Artists = append(sh.Artists, a)
	}
	for _, a := range ix.Albums {
		sh := at(a.ID)
		sh.Albums = append(sh.Albums, a)
	}
	return out
}

// Sort orders the summaries by id (a merged index reads the same every time).
func (ix *Index) Sort() {
	slices.SortFunc(ix.Artists, func(a, b ArtistSummary) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(ix.Albums, func(a, b AlbumSummary) int { return strings.Compare(a.ID, b.ID) })
}

// PutAlbum inserts or replaces an album's summary.
func (ix *Index) PutAlbum(s AlbumSummary) {
	if i := slices.IndexFunc(ix.Albums, func(a AlbumSummary) bool { return a.ID == s.ID }); i >= 0 {
		ix.Albums[i] = s
		return
	}
	ix.Albums = append(ix.Albums, s)
}

// AlbumQuery filters and sorts album lists.
type AlbumQuery struct {
	ArtistID, Genre, Sort string
	Limit                 int
	Cursor                string
}

// Page is one page of a list.
type Page[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"nextCursor,omitempty"`
}

// ValidateQuery checks list parameters.
func ValidateQuery(q *AlbumQuery) error {
	var v fault.Validation
	if q.Sort == "" {
		q.Sort = "new"
	}
	if q.Sort != "new" && q.Sort != "trending" && q.Sort != "title" {
		v.Add("sort", "must be new, trending or title")
	}
	if q.Limit == 0 {
		q.Limit = 20
	}
	if q.Limit < 1 || q.Limit > 100 {
		v.Add("limit", "must be between 1 and 100")
	}
	if q.ArtistID != "" {
		if m := validate.ID(q.ArtistID); m != "" {
			v.Add("artistId", "%s", m)
		}
	}
	q.Genre = strings.ToLower(strings.TrimSpace(q.Genre))
	return v.Err()
}

// ListAlbums filters the index for a viewer, sorts and pages.
// plays gives each album's plays in the trending window.
func ListAlbums(ix *Index, q AlbumQuery, v Viewer, plays func(albumID string) int) (Page[AlbumSummary], error) {
	offset, err := cursor.Decode(q.Cursor, q.Sort)
	if err != nil {
		return Page[AlbumSummary]{}, err
	}
	owners := map[string]string{}
	for _, a := range ix.Artists {
		owners[a.ID] = a.OwnerUserID
	}
	var out []AlbumSummary
	for _, a := range ix.Albums {
		if q.ArtistID != "" && a.ArtistID != q.ArtistID || q.Genre != "" && a.Genre != q.Genre {
			continue
		}
		if a.Status != Published && !v.IsAdmin && (owners[a.ArtistID] == "" || owners[a.ArtistID] != v.UserID) {
			continue
		}
		out = append(out, a)
	}
	switch q.Sort {
	case "trending":
		sort.SliceStable(out, func(i, j int) bool {
			pi, pj := plays(out[i].ID), plays(out[j].ID)
			if pi != pj {
				return pi > pj
			}
			return out[i].ReleaseDate > out[j].ReleaseDate
		})
	case "title":
		sort.SliceStable(out, func(i, j int) bool { return strings.ToLower(out[i].Title) < strings.ToLower(out[j].Title) })
	default:
		sort.SliceStable(out, func(i, j int) bool {
			if out[i].ReleaseDate != out[j].ReleaseDate {
				return out[i].ReleaseDate > out[j].ReleaseDate
			}
			return out[i].ID > out[j].ID
		})
	}
	return page(out, offset, q.Limit, q.Sort), nil
}

func page[T any](all []T, offset, limit int, sort string) Page[T] {
	if offset > len(all) {
		offset = len(all)
	}
	end := min(offset+limit, len(all))
	p := Page[T]{Items: append([]T{}, all[offset:end]...)}
	if end < len(all) {
		p.NextCursor = cursor.Encode(end, sort)
	}
	return p
}

// ListArtists pages artists by name.
func ListArtists(ix *Index, limit int, cur string) (Page[ArtistSummary], error) {
	offset, err := cursor.Decode(cur, "name")
	if err != nil {
		return Page[ArtistSummary]{}, err
	}
	if limit == 0 {
		limit = 20
	}
	if limit < 1 || limit > 100 {
		return Page[ArtistSummary]{}, fault.Invalid("limit", "must be between 1 and 100")
	}
	all := append([]ArtistSummary{}, ix.Artists...)
	sort.SliceStable(all, func(i, j int) bool { return strings.ToLower(all[i].Name) < strings.ToLower(all[j].Name) })
	return page(all, offset, limit, "name"), nil
}

// PlayWindow counts plays per album per day for the trending window.
type PlayWindow struct {
	Days map[string]map[string]int `json:"days"` // "2026-11-25" -> albumId -> plays
}

// Add merges counts for day.
func (w *PlayWindow) Add(day string, counts map[string]int) {
	if w.Days == nil {
		w.Days = map[string]map[string]int{}
	}
	d := w.Days[day]
	if d == nil {
		d = map[string]int{}
		w.Days[day] = d
	}
	for k, n := range counts {
		d[k] += n
	}
}

// Trim drops days older than keep days before now.
func (w *PlayWindow) Trim(now time.Time, keep int) {
	cut := now.AddDate(0, 0, -keep).Format("2006-01-02")
	for day := range w.Days {
		if day <= cut {
			delete(w.Days, day)
		}
	}
}

// Totals sums the last 7 days (today included).
func (w *PlayWindow) Totals(now time.Time) map[string]int {
	out := map[string]int{}
	from := now.AddDate(0, 0, -6).Format("2006-01-02")
	for day, counts := range w.Days {
		if day < from {
			continue
		}
		for k, n := range counts {
			out[k] += n
		}
	}
	return out
}
