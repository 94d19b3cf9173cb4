package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/harmonia-music/harmonia/apps/albums/internal/domain"
	"github.com/harmonia-music/harmonia/internal/events"
	"github.com/harmonia-music/harmonia/internal/platform"
	"github.com/harmonia-music/harmonia/internal/platform/cache"
)

// Stream is what a play serves.
type Stream struct {
	Data    []byte
	Audio   domain.Audio
	Preview bool
	// PreviewLength is how much a preview lets the listener hear (the
	// configured length; a shorter file is served whole).
	PreviewLength time.Duration
	ETag          string
	Modified      time.Time
	Track         *domain.Track
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
		st.Preview, st.PreviewLength = true, s.cfg.PreviewLength
		info, err := domain.ProbeAudio(data)
		if err == nil && info.Duration > s.cfg.PreviewLength {
			st.Data = domain.Preview(data, info, s.cfg.PreviewLength)
			st.ETag = `"` + t.Audio.SHA256[:20] + `-preview"`
		}
	}
	return st, nil
}

// listenState is what streaming keeps in memory: whether a listener may hear
// whole tracks (EntitlementCache) and their country (10 minutes), bounded.
type listenState struct {
	full      *cache.LRU[string, bool]
	countries *cache.LRU[string, string]
}

// maxCachedListeners bounds each of listenState's caches.
const maxCachedListeners = 100_000

func newListenState(cfg Config, now func() time.Time) listenState {
	return listenState{full: cache.New[string, bool](maxCachedListeners, cfg.EntitlementCache, now),
		countries: cache.New[string, string](maxCachedListeners, 10*time.Minute, now)}
}

func (s *Service) fullAccess(ctx context.Context, userID string) bool {
	if userID == "" || s.ents == nil {
		return false
	}
	if full, ok := s.listen.full.Get(userID); ok {
		return full
	}
	cctx, cancel := context.WithTimeout(ctx, s.cfg.EntitlementWait)
	defer cancel()
	full, err := s.ents.FullAccess(cctx, userID)
	if err != nil {
		platform.Logger(ctx).Debug("entitlement unknown; serving a preview", slog.String("error", err.Error()))
		return false // not cached: ask again next time
	}
	s.listen.full.Put(userID, full)
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
	if c, ok := s.listen.countries.Get(userID); ok {
		return c
	}
	cctx, cancel := context.WithTimeout(ctx, s.cfg.EntitlementWait)
	defer cancel()
	country, err := s.profiles.Country(cctx, userID)
	if err != nil {
		return ""
	}
	s.listen.countries.Put(userID, country)
	return country
}
