package app

import (
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/harmonia-music/harmonia/apps/search/internal/domain"
	"github.com/harmonia-music/harmonia/apps/search/internal/index"
	"github.com/harmonia-music/harmonia/internal/platform/cache"
)

// Suggestion is one completion.
type Suggestion struct {
	Text string      `json:"text"`
	Type domain.Kind `json:"type"`
	ID   string      `json:"id"`
}

// suggester answers as-you-type completions from memory: every visible
// document's name, folded, under each of its word starts ("dark side of
// the moon", "side of the moon", ...), in one sorted slice that a prefix
// finds by binary search. Changes mark it stale; it is rebuilt at most every
// SuggestRebuild, off the request path.
type suggester struct {
	mu      sync.RWMutex
	docs    map[string]Suggestion // by document key
	keys    []suggestKey          // sorted by text
	dirty   bool
	buildMu sync.Mutex
	// answers keeps recent answers for a moment: short prefixes ("t",
	// "th") match most of a large catalogue, and every keystroke of every
	// listener asks for them again.
	answers *cache.LRU[string, []Suggestion]
}

type suggestKey struct {
	text  string // folded words from one word start to the end
	doc   string // document key
	start bool   // the name's first word: a better match
	sug   Suggestion
}

// answerTTL is how long an answer is reused (changes show up after it).
const answerTTL = 2 * time.Second

func newSuggester() *suggester {
	return &suggester{docs: map[string]Suggestion{}, answers: cache.New[string, []Suggestion](10_000, answerTTL, nil)}
}

// put records d (or forgets it when hidden).
func (s *suggester) put(d domain.Doc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d.Hidden {
		delete(s.docs, d.Key())
	} else {
		s.docs[d.Key()] = Suggestion{Text: d.Name, Type: d.Kind, ID: d.ID}
	}
	s.dirty = true
}

func (s *suggester) remove(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.docs, key)
	s.dirty = true
}

// reset replaces every document (after a rebuild).
func (s *suggester) reset(docs map[string]Suggestion) {
	s.mu.Lock()
	s.docs, s.dirty = docs, true
	s.mu.Unlock()
	s.rebuild()
	s.answers.Clear()
}

// rebuild sorts the keys again if anything changed.
func (s *suggester) rebuild() {
	s.buildMu.Lock()
	defer s.buildMu.Unlock()
	s.mu.Lock()
	if !s.dirty {
		s.mu.Unlock()
		return
	}
	s.dirty = false
	docs := make(map[string]Suggestion, len(s.docs))
	for k, v := range s.docs {
		docs[k] = v
	}
	s.mu.Unlock()
	keys := make([]suggestKey, 0, len(docs)*3)
	for key, d := range docs {
		words := index.Fold(d.Text)
		for i := range words {
			keys = append(keys, suggestKey{text: strings.Join(words[i:], " "), doc: key, start: i == 0, sug: d})
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].text < keys[j].text })
	s.mu.Lock()
	s.keys = keys
	s.mu.Unlock()
}

// kindOrder ranks kinds when all else is equal.
var kindOrder = map[domain.Kind]int{domain.Artist: 0, domain.Album: 1, domain.Track: 2, domain.Playlist: 3}

// lookup completes prefix: matches at the start of a name first, then by
// popularity, then artists before albums, tracks and playlists, then the
// shorter text. Answers are reused for answerTTL.
func (s *suggester) lookup(prefix string, limit int, pop *Popularity) []Suggestion {
	words := index.Fold(prefix)
	if len(words) == 0 {
		return []Suggestion{}
	}
	p := strings.Join(words, " ")
	if strings.HasSuffix(prefix, " ") { // "dark " means the word "dark" is complete
		p += " "
	}
	key := strconv.Itoa(limit) + "|" + p
	if out, ok := s.answers.Get(key); ok {
		s.mu.RLock() // a document hidden since (a playlist made private) is never suggested
		kept := make([]Suggestion, 0, len(out))
		for _, sg := range out {
			if _, visible := s.docs[domain.Key(sg.Type, sg.ID)]; visible {
				kept = append(kept, sg)
			}
		}
		s.mu.RUnlock()
		return kept
	}
	out := s.complete(p, limit, pop)
	s.answers.Put(key, out)
	return out
}

func (s *suggester) complete(p string, limit int, pop *Popularity) []Suggestion {
	type cand struct {
		Suggestion
		doc   string
		start bool
		plays int
	}
	better := func(a, b *cand) bool {
		switch {
		case a.start != b.start:
			return a.start
		case a.plays != b.plays:
			return a.plays > b.plays
		case kindOrder[a.Type] != kindOrder[b.Type]:
			return kindOrder[a.Type] < kindOrder[b.Type]
		case len(a.Text) != len(b.Text):
			return len(a.Text) < len(b.Text)
		}
		return a.ID < b.ID
	}
	// The best limit candidates, kept in order while the prefix's range is
	// walked once: no sort of the whole range, one lock for the play counts.
	keep := limit + 5 // a few spare, for documents hidden since the keys were built
	top := make([]cand, 0, keep+1)
	s.mu.RLock()
	defer s.mu.RUnlock()
	pop.read(func(totals map[string]int) {
		i := sort.Search(len(s.keys), func(i int) bool { return s.keys[i].text >= p })
		for n := 0; i < len(s.keys) && strings.HasPrefix(s.keys[i].text, p) && n < maxScan; i, n = i+1, n+1 {
			k := &s.keys[i]
			c := cand{Suggestion: k.sug, doc: k.doc, start: k.start, plays: totals[k.doc]}
			if len(top) == keep && !better(&c, &top[len(top)-1]) {
				continue
			}
			if j := slices.IndexFunc(top, func(t cand) bool { return t.doc == k.doc }); j >= 0 {
				if !c.start || top[j].start {
					continue
				}
				top = slices.Delete(top, j, j+1)
			}
			at := sort.Search(len(top), func(j int) bool { return better(&c, &top[j]) })
			top = slices.Insert(top, at, c)
			if len(top) > keep {
				top = top[:keep]
			}
		}
	})
	out := make([]Suggestion, 0, limit)
	for _, c := range top {
		if _, visible := s.docs[c.doc]; visible && len(out) < limit {
			out = append(out, c.Suggestion)
		}
	}
	return out
}

// maxScan bounds how many keys one completion reads (a one-letter prefix of
// a large catalogue matches a tenth of it); answers are reused for answerTTL.
const maxScan = 5_000
