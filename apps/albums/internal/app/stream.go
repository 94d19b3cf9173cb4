package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/harmonia-music/harmonia/apps/albums/internal/domain"
	"github.com/harmonia-music/harmonia/internal/events"
	"github.com/harmonia-music/harmonia/internal/platform"
	"github.com/harmonia-music/harmonia/internal/platform/cache"
	"github.com/harmonia-music/harmonia/internal/platform/state"
)

// Stream is what a play serves: Body reads Size bytes, from the stored
// chunks a chunk at a time (or from memory for a file stored before
// chunking, until it is migrated).
type Stream struct {
	Body    io.ReadSeeker
	Size    int64
	Audio   domain.Audio
	Preview bool
	// PreviewLength is how much a preview lets the listener hear (the
	// configured length; a shorter file is served whole).
	PreviewLength time.Duration
	ETag          string
	Modified      time.Time
	Track         *domain.Track
	Genre         string // the album's
}

// Stream returns the bytes a viewer may hear: the whole file with a paid
// plan (or for the artist's account and admins), else a preview cut from
// the first chunks. Streaming never fails because subscriptions is slow or
// down: that means a preview.
func (s *Service) Stream(ctx context.Context, v domain.Viewer, trackID string) (*Stream, error) {
	t, al, artist, err := s.visibleTrack(ctx, v, trackID)
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
	a := *t.Audio
	st := &Stream{Audio: a, Modified: a.UploadedAt, Track: t, ETag: `"` + a.SHA256[:20] + `"`, Size: int64(a.Size)}
	if al != nil {
		st.Genre = al.Genre
	}
	if a.ChunkSize == 0 { // one object, stored before chunking
		data, err := s.media.Get(ctx, a.Key)
		if err != nil {
			return nil, err
		}
		if !full {
			st.Preview, st.PreviewLength = true, s.cfg.PreviewLength
			if info, err := domain.ProbeAudio(data); err == nil && info.Duration > s.cfg.PreviewLength {
				data = domain.Preview(data, info, s.cfg.PreviewLength)
				st.ETag = `"` + a.SHA256[:20] + `-preview"`
			}
		}
		st.Body, st.Size = bytes.NewReader(data), int64(len(data))
		return st, nil
	}
	f := newChunkFile(ctx, s.media, a, int64(a.Size))
	if !full { // preview mode; a file shorter than the preview is served whole
		st.Preview, st.PreviewLength = true, s.cfg.PreviewLength
		if keep := domain.PreviewLength(a.Size, a.Info(), s.cfg.PreviewLength); keep < a.Size {
			f.size, st.Size = int64(keep), int64(keep)
			st.ETag = `"` + a.SHA256[:20] + `-preview"`
			if a.Format == "wav" {
				first, err := f.chunk(0)
				if err != nil {
					return nil, err
				}
				if a.DataStart > len(first) {
					return nil, fmt.Errorf("track %s: the WAV header is longer than a chunk", t.ID)
				}
				f.head = domain.PreviewHeader(first[:a.DataStart], keep)
			}
		}
	}
	st.Body = f
	return st, nil
}

// listenState is what streaming keeps in memory: whether a listener may hear
// whole tracks (EntitlementCache) and their country and birth year (10
// minutes), bounded.
type listenState struct {
	full      *cache.LRU[string, bool]
	listeners *cache.LRU[string, Listener]
}

// maxCachedListeners bounds each of listenState's caches.
const maxCachedListeners = 100_000

func newListenState(cfg Config, now func() time.Time) listenState {
	return listenState{full: cache.New[string, bool](maxCachedListeners, cfg.EntitlementCache, now),
		listeners: cache.New[string, Listener](maxCachedListeners, 10*time.Minute, now)}
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

// Played announces one play (called once per play, not per range request)
// with what analytics groups it by. A play made is a play counted: the
// event commits through albums' outbox with a record of the play (kept a
// day); if the store refuses, it is published directly, and only if both
// fail is it lost (logged).
func (s *Service) Played(ctx context.Context, v domain.Viewer, st *Stream, device string) {
	now := s.now().UTC()
	l := s.listener(ctx, v.UserID)
	e := events.TrackPlayed{PlayID: newID(), UserID: v.UserID, TrackID: st.Track.ID, AlbumID: st.Track.AlbumID, ArtistID: st.Track.ArtistID,
		Genre: st.Genre, Preview: st.Preview, Device: device, Country: l.Country, AgeBand: events.AgeBand(l.BirthYear, now), PlayedAt: now}
	if v.UserID == "" {
		e.AgeBand = ""
	}
	b, _ := json.Marshal(e)
	err := state.Set(context.WithoutCancel(ctx), s.kv, state.Op{Key: "played|" + e.PlayID, Value: b, TTLSeconds: 24 * 3600, Event: state.Announce(e)})
	if err != nil {
		platform.Logger(ctx).Warn("play not committed through the outbox; publishing it directly", slog.String("error", err.Error()))
		s.publish(context.WithoutCancel(ctx), e)
	}
}

// listener is a listener's country and birth year, cached; the zero value
// when unknown (anonymous, or users did not answer in time).
func (s *Service) listener(ctx context.Context, userID string) Listener {
	if userID == "" || s.profiles == nil {
		return Listener{}
	}
	if l, ok := s.listen.listeners.Get(userID); ok {
		return l
	}
	cctx, cancel := context.WithTimeout(ctx, s.cfg.EntitlementWait)
	defer cancel()
	l, err := s.profiles.Listener(cctx, userID)
	if err != nil {
		return Listener{}
	}
	s.listen.listeners.Put(userID, l)
	return l
}
