package app

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/harmonia-music/harmonia/apps/albums/internal/domain"
	"github.com/harmonia-music/harmonia/internal/platform"
	"github.com/harmonia-music/harmonia/internal/platform/cache"
	"github.com/harmonia-music/harmonia/internal/platform/fault"
	"github.com/harmonia-music/harmonia/internal/platform/state"
	"github.com/harmonia-music/harmonia/internal/platform/validate"
)

// readIndex returns the whole catalogue index, its shards merged (empty
// before the first write).
func (s *Service) readIndex(ctx context.Context) (*domain.Index, error) {
	keys := make([]string, 0, domain.IndexShards)
	for n := range domain.IndexShards {
		keys = append(keys, shardID(n))
	}
	shards, err := s.catalogue.GetMany(ctx, keys)
	if err != nil {
		return nil, err
	}
	legacy, err := s.catalogue.Get(ctx, legacyIndexID)
	if errors.Is(err, state.ErrNotFound) {
		legacy, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	return mergeIndex(legacy, shards), nil
}

// readState is what reads keep in memory: the catalogue index and the views
// of published albums, each for at most IndexStaleness.
type readState struct {
	mu      sync.Mutex
	index   *domain.Index
	indexAt time.Time
	views   *cache.LRU[string, *AlbumView] // bounded: the least recently read go first
}

// maxCachedViews bounds the album views kept in memory.
const maxCachedViews = 10_000

func newReadState(cfg Config, now func() time.Time) readState {
	return readState{views: cache.New[string, *AlbumView](maxCachedViews, cfg.IndexStaleness, now)}
}

// cachedIndex serves list reads from memory, at most IndexStaleness old, so
// other replicas' writes show up quickly without a state read per request.
// Refreshing it refreshes the trending totals too.
func (s *Service) cachedIndex(ctx context.Context) (*domain.Index, error) {
	s.reads.mu.Lock()
	if s.reads.index != nil && s.now().Sub(s.reads.indexAt) < s.cfg.IndexStaleness {
		ix := s.reads.index
		s.reads.mu.Unlock()
		return ix, nil
	}
	s.reads.mu.Unlock()
	ix, err := s.readIndex(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.refreshTrending(ctx); err != nil {
		platform.Logger(ctx).Warn("trending totals not refreshed", slog.String("error", err.Error()))
	}
	s.reads.mu.Lock()
	s.reads.index, s.reads.indexAt = ix, s.now()
	s.reads.mu.Unlock()
	return ix, nil
}

// forget drops what reads keep, after this replica's own write.
func (s *Service) forget() {
	s.reads.mu.Lock()
	s.reads.index = nil
	s.reads.mu.Unlock()
	s.reads.views.Clear()
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
	totals := s.trendingTotals()
	return domain.ListAlbums(ix, q, v, func(id string) int { return totals[id] })
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
	if view, ok := s.reads.views.Get(id); ok {
		return view, nil
	}
	view, err := s.loadAlbum(ctx, v, id)
	if err == nil && view.Status == domain.Published && s.cfg.IndexStaleness > 0 {
		s.reads.views.Put(id, view)
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
