// Package app holds the albums service's use cases.
package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/harmonia-music/harmonia/apps/albums/internal/domain"
	"github.com/harmonia-music/harmonia/internal/events"
	"github.com/harmonia-music/harmonia/internal/platform"
	"github.com/harmonia-music/harmonia/internal/platform/fault"
	"github.com/harmonia-music/harmonia/internal/platform/state"
	"github.com/harmonia-music/harmonia/internal/platform/validate"
)

// Media stores audio files (the Dapr binding "media").
type Media interface {
	Put(ctx context.Context, key string, data []byte) error
	Get(ctx context.Context, key string) ([]byte, error)
}

// Entitlements says whether a user may hear whole tracks (the subscriptions service).
type Entitlements interface {
	FullAccess(ctx context.Context, userID string) (bool, error)
}

// Profiles gives a user's country (the users service).
type Profiles interface {
	Country(ctx context.Context, userID string) (string, error)
}

// Publisher publishes events.
type Publisher interface {
	Publish(ctx context.Context, e events.Event) error
}

// Config tunes the service.
type Config struct {
	PreviewLength    time.Duration // 30 s
	MaxAudioBytes    int
	EntitlementWait  time.Duration // how long a stream waits for subscriptions
	IndexStaleness   time.Duration // how old the cached index may be for reads
	EntitlementCache time.Duration
}

// Service implements the catalogue.
type Service struct {
	cfg       Config
	kv        state.KV
	artists   state.Repo[domain.Artist]
	catalogue state.Repo[domain.Index] // the one index document
	albums    state.Repo[domain.Album]
	tracks    state.Repo[domain.Track]
	windowDB  state.Repo[domain.PlayWindow]
	media     Media
	ents      Entitlements
	profiles  Profiles
	pub       Publisher
	now       func() time.Time

	mu        sync.Mutex
	index     *domain.Index
	indexAt   time.Time
	trending  map[string]int
	pending   map[string]int
	entCache  map[string]cached
	cntyCache map[string]cached
	views     map[string]cachedView
}

// cachedView is a published album as every listener sees it.
type cachedView struct {
	view *AlbumView
	at   time.Time
}

type cached struct {
	full    bool
	country string
	at      time.Time
}

// indexID is the one catalogue index document (key "index|catalogue").
const indexID = "catalogue"

// New wires the service.
func New(cfg Config, kv state.KV, media Media, ents Entitlements, profiles Profiles, pub Publisher, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{cfg: cfg, kv: kv, media: media, ents: ents, profiles: profiles, pub: pub, now: now,
		artists:   state.Repo[domain.Artist]{KV: kv, Prefix: "artist|", NotFound: domain.ErrArtistNotFound},
		catalogue: state.Repo[domain.Index]{KV: kv, Prefix: "index|"},
		albums:    state.Repo[domain.Album]{KV: kv, Prefix: "album|", NotFound: domain.ErrAlbumNotFound},
		tracks:    state.Repo[domain.Track]{KV: kv, Prefix: "track|", NotFound: domain.ErrTrackNotFound},
		windowDB:  state.Repo[domain.PlayWindow]{KV: kv, Prefix: "plays|"},
		pending:   map[string]int{}, trending: map[string]int{}, entCache: map[string]cached{}, cntyCache: map[string]cached{},
		views: map[string]cachedView{}}
}

func (s *Service) publish(ctx context.Context, e events.Event) {
	if err := s.pub.Publish(ctx, e); err != nil {
		platform.Logger(ctx).Warn("event not published", slog.String("topic", e.Topic()), slog.String("error", err.Error()))
	}
}

// readIndex returns the catalogue index (empty before the first write).
func (s *Service) readIndex(ctx context.Context) (*domain.Index, error) {
	ix, err := s.catalogue.Get(ctx, indexID)
	if errors.Is(err, state.ErrNotFound) {
		return &domain.Index{}, nil
	}
	return ix, err
}

// cachedIndex serves list reads from memory, at most IndexStaleness old, so
// other replicas' writes show up quickly without a state read per request.
func (s *Service) cachedIndex(ctx context.Context) (*domain.Index, error) {
	s.mu.Lock()
	if s.index != nil && s.now().Sub(s.indexAt) < s.cfg.IndexStaleness {
		ix := s.index
		s.mu.Unlock()
		return ix, nil
	}
	s.mu.Unlock()
	ix, err := s.readIndex(ctx)
	if err != nil {
		return nil, err
	}
	w, err := s.windowDB.Get(ctx, "window")
	totals := map[string]int{}
	if err == nil {
		totals = w.Totals(s.now())
	}
	s.mu.Lock()
	s.index, s.indexAt, s.trending = ix, s.now(), totals
	s.mu.Unlock()
	return ix, nil
}

func (s *Service) forget() {
	s.mu.Lock()
	s.index = nil
	s.views = map[string]cachedView{}
	s.mu.Unlock()
}

// withIndex commits fn's writes together with the index change it makes,
// starting over when another write moved the index (or anything fn read)
// in between.
func (s *Service) withIndex(ctx context.Context, fn func(tx *state.Tx, ix *domain.Index) error) error {
	defer s.forget()
	return state.Transact(ctx, s.kv, func(tx *state.Tx) error {
		ix, err := s.catalogue.ReadOrNew(ctx, tx, indexID)
		if err != nil {
			return err
		}
		if err := fn(tx, ix); err != nil {
			return err
		}
		return s.catalogue.Write(tx, indexID, ix)
	})
}

func newID() string { return uuid.Must(uuid.NewV7()).String() }

// CreateArtist adds an artist (admins only).
func (s *Service) CreateArtist(ctx context.Context, v domain.Viewer, a domain.Artist) (*domain.Artist, error) {
	if !v.IsAdmin {
		return nil, fault.E(fault.KindForbidden, "forbidden", "only an admin creates artists")
	}
	if err := domain.ValidateArtist(&a); err != nil {
		return nil, err
	}
	a.ID, a.CreatedAt = newID(), s.now().UTC()
	if a.Genres == nil {
		a.Genres = []string{}
	}
	err := s.withIndex(ctx, func(tx *state.Tx, ix *domain.Index) error {
		ix.Artists = append(ix.Artists, domain.ArtistSummary{ID: a.ID, Name: a.Name, Genres: a.Genres, OwnerUserID: a.OwnerUserID})
		return s.artists.Insert(tx, a.ID, &a)
	})
	if err != nil {
		return nil, err
	}
	s.publish(ctx, artistCreated(&a))
	return &a, nil
}

func artistCreated(a *domain.Artist) events.ArtistCreated {
	return events.ArtistCreated{ArtistID: a.ID, Name: a.Name, Genres: a.Genres, Version: 1, CreatedAt: a.CreatedAt}
}

func albumPublished(a *domain.Album) events.AlbumPublished {
	var at time.Time
	if a.PublishedAt != nil {
		at = *a.PublishedAt
	}
	return events.AlbumPublished{AlbumID: a.ID, ArtistID: a.ArtistID, Title: a.Title, Genre: a.Genre,
		ReleaseDate: a.ReleaseDate, TrackCount: len(a.TrackIDs), PublishedAt: at}
}

// Artist returns one artist.
func (s *Service) Artist(ctx context.Context, id string) (*domain.Artist, error) {
	if m := validate.ID(id); m != "" {
		return nil, fault.Invalid("id", m)
	}
	return s.artists.Get(ctx, id)
}

// Artists lists artists by name.
func (s *Service) Artists(ctx context.Context, limit int, cursor string) (domain.Page[domain.ArtistSummary], error) {
	ix, err := s.cachedIndex(ctx)
	if err != nil {
		return domain.Page[domain.ArtistSummary]{}, err
	}
	return domain.ListArtists(ix, limit, cursor)
}

// Albums lists albums the viewer may see.
func (s *Service) Albums(ctx context.Context, v domain.Viewer, q domain.AlbumQuery) (domain.Page[domain.AlbumSummary], error) {
	if err := domain.ValidateQuery(&q); err != nil {
		return domain.Page[domain.AlbumSummary]{}, err
	}
	ix, err := s.cachedIndex(ctx)
	if err != nil {
		return domain.Page[domain.AlbumSummary]{}, err
	}
	s.mu.Lock()
	trending := s.trending
	s.mu.Unlock()
	return domain.ListAlbums(ix, q, v, func(id string) int { return trending[id] })
}

// managedArtist loads the artist and checks that v manages it.
func (s *Service) managedArtist(ctx context.Context, v domain.Viewer, artistID string) (*domain.Artist, error) {
	a, err := s.artists.Get(ctx, artistID)
	if err != nil {
		return nil, err
	}
	if !v.Manages(a) {
		return nil, domain.ErrNotYours
	}
	return a, nil
}

// CreateAlbum adds a draft album to an artist the viewer manages.
func (s *Service) CreateAlbum(ctx context.Context, v domain.Viewer, al domain.Album) (*domain.Album, error) {
	var val fault.Validation
	if m := validate.ID(al.ArtistID); m != "" {
		val.Add("artistId", "%s", m)
	}
	if err := domain.ValidateAlbum(&al); err != nil {
		return nil, err
	}
	if err := val.Err(); err != nil {
		return nil, err
	}
	if _, err := s.managedArtist(ctx, v, al.ArtistID); err != nil {
		if errors.Is(err, domain.ErrArtistNotFound) {
			return nil, fault.Invalid("artistId", "no such artist")
		}
		return nil, err
	}
	now := s.now().UTC()
	al.ID, al.Status, al.TrackIDs, al.Version, al.CreatedAt, al.UpdatedAt = newID(), domain.Draft, []string{}, 1, now, now
	err := s.withIndex(ctx, func(tx *state.Tx, ix *domain.Index) error {
		ix.PutAlbum(al.Summary())
		return s.albums.Insert(tx, al.ID, &al)
	})
	return &al, err
}

// AlbumView is an album with its artist and tracks.
type AlbumView struct {
	domain.Album
	Artist domain.ArtistSummary `json:"artist"`
	Tracks []domain.Track       `json:"tracks"`
}

// visibleAlbum loads an album the viewer may see (404 otherwise, so drafts
// do not even reveal that they exist).
func (s *Service) visibleAlbum(ctx context.Context, v domain.Viewer, id string) (*domain.Album, *domain.Artist, error) {
	if m := validate.ID(id); m != "" {
		return nil, nil, fault.Invalid("id", m)
	}
	al, err := s.albums.Get(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	var artist *domain.Artist
	if al.Status != domain.Published || v.UserID != "" {
		if artist, err = s.artists.Get(ctx, al.ArtistID); err != nil {
			return nil, nil, err
		}
	}
	if !v.CanSee(al, artist) {
		return nil, nil, domain.ErrAlbumNotFound
	}
	return al, artist, nil
}

// Album returns an album with its tracks in order. A published album looks
// the same to every listener, so its view is kept in memory for at most
// IndexStaleness (this replica's own writes drop it at once): reads of the
// catalogue's hottest page cost no state reads.
func (s *Service) Album(ctx context.Context, v domain.Viewer, id string) (*AlbumView, error) {
	s.mu.Lock()
	c, ok := s.views[id]
	s.mu.Unlock()
	if ok && s.now().Sub(c.at) < s.cfg.IndexStaleness {
		return c.view, nil
	}
	view, err := s.loadAlbum(ctx, v, id)
	if err == nil && view.Status == domain.Published && s.cfg.IndexStaleness > 0 {
		s.mu.Lock()
		if len(s.views) > 10000 {
			s.views = map[string]cachedView{}
		}
		s.views[id] = cachedView{view: view, at: s.now()}
		s.mu.Unlock()
	}
	return view, err
}

func (s *Service) loadAlbum(ctx context.Context, v domain.Viewer, id string) (*AlbumView, error) {
	al, artist, err := s.visibleAlbum(ctx, v, id)
	if err != nil {
		return nil, err
	}
	view := &AlbumView{Album: *al, Tracks: []domain.Track{}}
	if artist != nil {
		view.Artist = domain.ArtistSummary{ID: artist.ID, Name: artist.Name, Genres: artist.Genres}
	}
	tracks, err := s.tracks.GetMany(ctx, al.TrackIDs)
	if err != nil {
		return nil, err
	}
	for _, t := range tracks {
		view.Tracks = append(view.Tracks, *t)
	}
	slices.SortFunc(view.Tracks, func(a, b domain.Track) int { return a.TrackNumber - b.TrackNumber })
	return view, nil
}

// changeAlbum applies fn to the stored album (read again within the
// transaction) and commits it, one version up, with its index entry and
// fn's other writes; a concurrent write makes withIndex start over.
func (s *Service) changeAlbum(ctx context.Context, id string, fn func(tx *state.Tx, a *domain.Album) error) (*domain.Album, error) {
	var out *domain.Album
	err := s.withIndex(ctx, func(tx *state.Tx, ix *domain.Index) error {
		cur, err := s.albums.Read(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := fn(tx, cur); err != nil {
			return err
		}
		cur.Version++
		cur.UpdatedAt = s.now().UTC()
		ix.PutAlbum(cur.Summary())
		out = cur
		return s.albums.Write(tx, id, cur)
	})
	return out, err
}

// PatchAlbum changes title, genre or release date if the album is still at
// version ifMatch (when given).
func (s *Service) PatchAlbum(ctx context.Context, v domain.Viewer, id string, ifMatch int, patch map[string]json.RawMessage) (*domain.Album, error) {
	al, _, err := s.visibleAlbum(ctx, v, id)
	if err != nil {
		return nil, err
	}
	if _, err := s.managedArtist(ctx, v, al.ArtistID); err != nil {
		return nil, err
	}
	updated, err := s.changeAlbum(ctx, id, func(_ *state.Tx, cur *domain.Album) error {
		if ifMatch != 0 && cur.Version != ifMatch {
			return state.ErrPrecondition
		}
		return applyAlbumPatch(cur, patch)
	})
	if err != nil {
		return nil, err
	}
	if updated.Status == domain.Published {
		s.publish(ctx, events.AlbumUpdated{AlbumID: id, ArtistID: updated.ArtistID, Title: updated.Title,
			Genre: updated.Genre, ReleaseDate: updated.ReleaseDate, UpdatedAt: updated.UpdatedAt})
	}
	return updated, nil
}
func applyAlbumPatch(a *domain.Album, patch map[string]json.RawMessage) error {
	if len(patch) == 0 {
		return fault.Invalid("body", "name at least one field to change")
	}
	var v fault.Validation
	for k, raw := range patch {
		var dst *string
		switch k {
		case "title":
			dst = &a.Title
		case "genre":
			dst = &a.Genre
		case "releaseDate":
			dst = &a.ReleaseDate
		default:
			v.Add(k, "is not a field you can change")
			continue
		}
		if json.Unmarshal(raw, dst) != nil {
			v.Add(k, "must be a string")
		}
	}
	if err := v.Err(); err != nil {
		return err
	}
	return domain.ValidateAlbum(a)
}

// AddTrack adds a track to a draft album.
func (s *Service) AddTrack(ctx context.Context, v domain.Viewer, albumID string, t domain.Track) (*domain.Track, error) {
	if err := domain.ValidateTrack(&t); err != nil {
		return nil, err
	}
	al, _, err := s.visibleAlbum(ctx, v, albumID)
	if err != nil {
		return nil, err
	}
	if _, err := s.managedArtist(ctx, v, al.ArtistID); err != nil {
		return nil, err
	}
	t.ID, t.AlbumID, t.ArtistID, t.CreatedAt = newID(), albumID, al.ArtistID, s.now().UTC()
	_, err = s.changeAlbum(ctx, albumID, func(tx *state.Tx, cur *domain.Album) error {
		if cur.Status == domain.Published {
			return domain.ErrPublished
		}
		others, err := s.tracks.GetMany(ctx, cur.TrackIDs)
		if err != nil {
			return err
		}
		for _, other := range others {
			if other.TrackNumber == t.TrackNumber {
				return domain.ErrTrackNumber
			}
		}
		cur.TrackIDs = append(cur.TrackIDs, t.ID)
		return s.tracks.Insert(tx, t.ID, &t)
	})
	return &t, err
}

// Publish makes a draft visible to listeners; publishing twice is a no-op.
func (s *Service) Publish(ctx context.Context, v domain.Viewer, albumID string) (*domain.Album, error) {
	al, _, err := s.visibleAlbum(ctx, v, albumID)
	if err != nil {
		return nil, err
	}
	if _, err := s.managedArtist(ctx, v, al.ArtistID); err != nil {
		return nil, err
	}
	if al.Status == domain.Published {
		return al, nil
	}
	tracks, err := s.tracks.GetMany(ctx, al.TrackIDs)
	if err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(tracks, func(t *domain.Track) bool { return t.Audio != nil }) {
		return nil, domain.ErrEmptyAlbum
	}
	out, err := s.changeAlbum(ctx, albumID, func(_ *state.Tx, cur *domain.Album) error {
		now := s.now().UTC()
		cur.Status, cur.PublishedAt = domain.Published, &now
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.publish(ctx, albumPublished(out))
	return out, nil
}

// visibleTrack loads a track whose album the viewer may see.
func (s *Service) visibleTrack(ctx context.Context, v domain.Viewer, id string) (*domain.Track, *domain.Album, *domain.Artist, error) {
	if m := validate.ID(id); m != "" {
		return nil, nil, nil, fault.Invalid("id", m)
	}
	t, err := s.tracks.Get(ctx, id)
	if err != nil {
		return nil, nil, nil, err
	}
	al, artist, err := s.visibleAlbum(ctx, v, t.AlbumID)
	if errors.Is(err, domain.ErrAlbumNotFound) {
		return nil, nil, nil, domain.ErrTrackNotFound
	}
	return t, al, artist, err
}

// Track returns one track.
func (s *Service) Track(ctx context.Context, v domain.Viewer, id string) (*domain.Track, error) {
	t, _, _, err := s.visibleTrack(ctx, v, id)
	return t, err
}

// UploadAudio stores a track's audio after checking what the bytes are.
func (s *Service) UploadAudio(ctx context.Context, v domain.Viewer, trackID string, data []byte) (*domain.Track, error) {
	t, al, _, err := s.visibleTrack(ctx, v, trackID)
	if err != nil {
		return nil, err
	}
	if _, err := s.managedArtist(ctx, v, al.ArtistID); err != nil {
		return nil, err
	}
	if len(data) > s.cfg.MaxAudioBytes {
		return nil, fault.E(fault.KindPayload, "audio-too-large", "audio files may be at most "+itoa(s.cfg.MaxAudioBytes)+" bytes")
	}
	info, err := domain.ProbeAudio(data)
	if err != nil {
		return nil, fault.E(fault.KindUnsupportedMedia, "not-audio", "the body is not an MP3, Ogg, WAV or FLAC file")
	}
	sum := sha256.Sum256(data)
	digest := hex.EncodeToString(sum[:])
	if t.Audio != nil && t.Audio.SHA256 == digest {
		return t, nil // the same file again: nothing to do
	}
	key := "tracks/" + trackID + "/" + digest[:16] + "." + info.Format
	if err := s.media.Put(ctx, key, data); err != nil {
		return nil, err
	}
	audio := &domain.Audio{Key: key, Format: info.Format, MimeType: info.MimeType, Size: len(data),
		DurationMs: info.Duration.Milliseconds(), SHA256: digest, UploadedAt: s.now().UTC()}
	defer s.forget()
	return s.tracks.Update(ctx, trackID, func(tr *domain.Track) error { tr.Audio = audio; return nil })
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// Stream is what a play serves.
type Stream struct {
	Data     []byte
	Audio    domain.Audio
	Preview  bool
	ETag     string
	Modified time.Time
	Track    *domain.Track
}

// Stream returns the bytes a viewer may hear: the whole file with a paid
// plan (or for the artist's account and admins), else a preview. Streaming
// never fails because subscriptions is slow or down: that means a preview.
func (s *Service) Stream(ctx context.Context, v domain.Viewer, trackID string) (*Stream, error) {
	t, _, artist, err := s.visibleTrack(ctx, v, trackID)
	if err != nil {
		return nil, err
	}
	if t.Audio == nil {
		return nil, domain.ErrNoAudio
	}
	full := artist != nil && v.Manages(artist)
	if !full {
		full = s.fullAccess(ctx, v.UserID)
	}
	data, err := s.media.Get(ctx, t.Audio.Key)
	if err != nil {
		return nil, err
	}
	st := &Stream{Data: data, Audio: *t.Audio, Modified: t.Audio.UploadedAt, Track: t, ETag: `"` + t.Audio.SHA256[:20] + `"`}
	if !full { // preview mode; a file shorter than the preview is served whole
		st.Preview = true
		info, err := domain.ProbeAudio(data)
		if err == nil && info.Duration > s.cfg.PreviewLength {
			st.Data = domain.Preview(data, info, s.cfg.PreviewLength)
			st.ETag = `"` + t.Audio.SHA256[:20] + `-preview"`
		}
	}
	return st, nil
}

func (s *Service) fullAccess(ctx context.Context, userID string) bool {
	if userID == "" || s.ents == nil {
		return false
	}
	s.mu.Lock()
	c, ok := s.entCache[userID]
	s.mu.Unlock()
	if ok && s.now().Sub(c.at) < s.cfg.EntitlementCache {
		return c.full
	}
	cctx, cancel := context.WithTimeout(ctx, s.cfg.EntitlementWait)
	defer cancel()
	full, err := s.ents.FullAccess(cctx, userID)
	if err != nil {
		platform.Logger(ctx).Debug("entitlement unknown; serving a preview", slog.String("error", err.Error()))
		return false // not cached: ask again next time
	}
	s.mu.Lock()
	s.entCache[userID] = cached{full: full, at: s.now()}
	s.mu.Unlock()
	return full
}

// Played announces one play (called once per play, not per range request).
func (s *Service) Played(ctx context.Context, v domain.Viewer, st *Stream, device string) {
	s.publish(ctx, events.TrackPlayed{UserID: v.UserID, TrackID: st.Track.ID, AlbumID: st.Track.AlbumID, ArtistID: st.Track.ArtistID,
		Preview: st.Preview, Device: device, Country: s.country(ctx, v.UserID), PlayedAt: s.now().UTC()})
}

func (s *Service) country(ctx context.Context, userID string) string {
	if userID == "" || s.profiles == nil {
		return ""
	}
	s.mu.Lock()
	c, ok := s.cntyCache[userID]
	s.mu.Unlock()
	if ok && s.now().Sub(c.at) < 10*time.Minute {
		return c.country
	}
	cctx, cancel := context.WithTimeout(ctx, s.cfg.EntitlementWait)
	defer cancel()
	country, err := s.profiles.Country(cctx, userID)
	if err != nil {
		return ""
	}
	s.mu.Lock()
	s.cntyCache[userID] = cached{country: country, at: s.now()}
	s.mu.Unlock()
	return country
}

// CountPlay adds one play of an album to the pending trending counts.
func (s *Service) CountPlay(albumID string) {
	s.mu.Lock()
	s.pending[albumID]++
	s.mu.Unlock()
}

// FlushPlays merges pending counts into the stored trending window.
func (s *Service) FlushPlays(ctx context.Context) error {
	s.mu.Lock()
	pending := s.pending
	s.pending = map[string]int{}
	s.mu.Unlock()
	if len(pending) == 0 {
		return nil
	}
	now := s.now().UTC()
	day := now.Format("2006-01-02")
	_, err := s.windowDB.Upsert(ctx, "window", func(w *domain.PlayWindow, _ bool) error {
		w.Add(day, pending)
		w.Trim(now, 8)
		return nil
	})
	if err != nil { // keep the counts for the next flush
		s.mu.Lock()
		for k, n := range pending {
			s.pending[k] += n
		}
		s.mu.Unlock()
	}
	return err
}

// TrackInfo is what other services learn about a track.
type TrackInfo struct {
	ID       string `json:"id"`
	AlbumID  string `json:"albumId"`
	ArtistID string `json:"artistId"`
	Title    string `json:"title"`
}

// PublishedTrack returns a track that listeners may see (for playlists).
func (s *Service) PublishedTrack(ctx context.Context, id string) (*TrackInfo, error) {
	t, _, _, err := s.visibleTrack(ctx, domain.Viewer{}, id)
	if err != nil {
		return nil, err
	}
	return &TrackInfo{ID: t.ID, AlbumID: t.AlbumID, ArtistID: t.ArtistID, Title: t.Title}, nil
}
