package app

import (
	"context"
	"errors"
	"sync"

	"github.com/harmonia-music/harmonia/apps/albums/internal/domain"
	"github.com/harmonia-music/harmonia/internal/platform/state"
)

// trendState holds plays counted since the last flush, and the totals of
// the stored window as last read.
type trendState struct {
	mu      sync.Mutex
	pending map[string]int
	totals  map[string]int
}

// CountPlay adds one play of an album to the pending trending counts.
func (s *Service) CountPlay(albumID string) {
	s.trend.mu.Lock()
	s.trend.pending[albumID]++
	s.trend.mu.Unlock()
}

// trendingTotals are the plays per album over the trending window.
func (s *Service) trendingTotals() map[string]int {
	s.trend.mu.Lock()
	defer s.trend.mu.Unlock()
	return s.trend.totals
}

// refreshTrending reads the stored window's totals.
func (s *Service) refreshTrending(ctx context.Context) error {
	w, err := s.windowDB.Get(ctx, "window")
	totals := map[string]int{}
	switch {
	case err == nil:
		totals = w.Totals(s.now())
	case !errors.Is(err, state.ErrNotFound):
		return err
	}
	s.trend.mu.Lock()
	s.trend.totals = totals
	s.trend.mu.Unlock()
	return nil
}

// FlushPlays merges pending counts into the stored trending window.
func (s *Service) FlushPlays(ctx context.Context) error {
	s.trend.mu.Lock()
	pending := s.trend.pending
	s.trend.pending = map[string]int{}
	s.trend.mu.Unlock()
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
		s.trend.mu.Lock()
		for k, n := range pending {
			s.trend.pending[k] += n
		}
		s.trend.mu.Unlock()
	}
	return err
}
