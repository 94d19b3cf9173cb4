package app

import (
	"encoding/json"
	"sync"
	"time"

	"github.com/harmonia-music/harmonia/apps/search/internal/domain"
)

// Window is how far back plays count towards popularity.
const Window = 30 * 24 * time.Hour

// Popularity counts plays per track, album and artist by day over the last
// Window, with running totals, in memory; it is saved into the index's
// metadata every few seconds (plays since the last save are lost if search
// stops, and a redelivered play within the last plays is counted once).
type Popularity struct {
	mu     sync.Mutex
	days   map[string]map[string]int // "2026-11-27" → key → plays
	totals map[string]int
	dirty  bool
}

func newPopularity() *Popularity {
	return &Popularity{days: map[string]map[string]int{}, totals: map[string]int{}}
}

func dayOf(t time.Time) string { return t.UTC().Format("2006-01-02") }

// Add counts one play of each key.
func (p *Popularity) Add(at time.Time, keys ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	d := dayOf(at)
	if p.days[d] == nil {
		p.days[d] = map[string]int{}
	}
	for _, k := range keys {
		p.days[d][k]++
		p.totals[k]++
	}
	p.dirty = true
}

// Expire drops the days older than Window before now.
func (p *Popularity) Expire(now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	oldest := dayOf(now.Add(-Window))
	for d, counts := range p.days {
		if d >= oldest {
			continue
		}
		for k, n := range counts {
			if p.totals[k] -= n; p.totals[k] <= 0 {
				delete(p.totals, k)
			}
		}
		delete(p.days, d)
		p.dirty = true
	}
}

// Of is a document's plays in the window.
func (p *Popularity) Of(kind domain.Kind, id string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.totals[domain.Key(kind, id)]
}

// Snapshot is the saved form, and whether anything changed since the last.
func (p *Popularity) Snapshot() ([]byte, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.dirty {
		return nil, false
	}
	b, _ := json.Marshal(p.days)
	p.dirty = false
	return b, true
}

// Load replaces the counts with a snapshot.
func (p *Popularity) Load(b []byte) error {
	var days map[string]map[string]int
	if err := json.Unmarshal(b, &days); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.days, p.totals = days, map[string]int{}
	for _, counts := range days {
		for k, n := range counts {
			p.totals[k] += n
		}
	}
	return nil
}

// read runs fn with the totals by document key, locked for its duration.
func (p *Popularity) read(fn func(totals map[string]int)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fn(p.totals)
}
