// Package index is search's index port and its Bleve implementation. Words
// are folded (Beyoncé → beyonce) and lower-cased by one analyzer, used both
// when documents are indexed and on the words of a query, because Bleve's
// term, prefix and fuzzy queries do not analyse their input.
package index

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"unicode/utf8"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/custom"
	"github.com/blevesearch/bleve/v2/analysis/char/asciifolding"
	"github.com/blevesearch/bleve/v2/analysis/token/lowercase"
	"github.com/blevesearch/bleve/v2/analysis/tokenizer/unicode"
	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/search/query"

	"github.com/harmonia-music/harmonia/apps/search/internal/domain"
)

// MappingVersion names the mapping below; an index built with another one is
// rebuilt.
const MappingVersion = "6"

// Hit is one result.
type Hit struct {
	Doc   domain.Doc
	Score float64
}

// Facet is one value of a facet and how many results have it.
type Facet struct {
	Value string `json:"value"`
	Count int    `json:"count"`
}

// Result is one page of one kind's results.
type Result struct {
	Hits  []Hit
	Total uint64
}

// Index is what search needs of an index; Bleve implements it, and another
// engine could.
type Index interface {
	Put(docs []domain.Doc) error
	Get(key string) (*domain.Doc, error) // nil, nil when absent
	ByArtist(artistID string) ([]domain.Doc, error)
	ByAlbum(albumID string) ([]domain.Doc, error)
	All(kind domain.Kind) ([]domain.Doc, error) // the visible documents of kind
	// Search finds visible documents of kinds matching words (already
	// folded): every word, in any order, the last one also as a prefix.
	Search(words []string, kinds []domain.Kind, size int) (Result, error)
	// Facets counts genre and decade over the matches of words among kinds.
	Facets(words []string, kinds []domain.Kind) (map[string][]Facet, error)
	Count() (uint64, error)
	Meta(key string) ([]byte, error)
	SetMeta(key string, v []byte) error
	Close() error
}

// Bleve is the Bleve index on local disk.
type Bleve struct {
	idx bleve.Index
}

const analyzer = "folded"

func newMapping() (*mapping.IndexMappingImpl, error) {
	m := bleve.NewIndexMapping()
	if err := m.AddCustomAnalyzer(analyzer, map[string]any{
		"type":          custom.Name,
		"char_filters":  []string{asciifolding.Name},
		"tokenizer":     unicode.Name,
		"token_filters": []string{lowercase.Name},
	}); err != nil {
		return nil, err
	}
	m.DefaultAnalyzer = analyzer
	doc := bleve.NewDocumentStaticMapping()
	text := func() *mapping.FieldMapping {
		f := bleve.NewTextFieldMapping()
		f.Analyzer, f.Store, f.IncludeInAll, f.IncludeTermVectors = analyzer, false, false, false
		return f
	}
	keyword := func() *mapping.FieldMapping {
		f := bleve.NewKeywordFieldMapping()
		f.Store, f.IncludeInAll, f.IncludeTermVectors = false, false, false
		return f
	}
	for _, name := range []string{"name", "artistName", "albumTitle", "all"} {
		doc.AddFieldMappingsAt(name, text())
	}
	for _, name := range []string{"kind", "genre", "decade", "artistId", "albumId", "visible"} {
		doc.AddFieldMappingsAt(name, keyword())
	}
	stored := bleve.NewTextFieldMapping()
	stored.Index, stored.Store, stored.IncludeInAll, stored.IncludeTermVectors, stored.DocValues = false, true, false, false, false
	doc.AddFieldMappingsAt("doc", stored)
	m.DefaultMapping = doc
	return m, nil
}

// Open opens the index at dir, creating it when absent. fresh reports that
// it was created (or had another mapping, and was made anew): it needs a
// rebuild.
func Open(dir string) (b *Bleve, fresh bool, err error) {
	idx, err := bleve.Open(dir)
	if err == nil {
		v, _ := idx.GetInternal([]byte("mapping"))
		if string(v) == MappingVersion {
			return &Bleve{idx: idx}, false, nil
		}
		_ = idx.Close()
		if err := os.RemoveAll(dir); err != nil {
			return nil, false, err
		}
	} else if !errors.Is(err, bleve.ErrorIndexPathDoesNotExist) {
		// unreadable (a crash while it was created, a half-copied folder):
		// the index is rebuilt from the exports anyway, so start afresh
		if err := os.RemoveAll(dir); err != nil {
			return nil, false, fmt.Errorf("open index %s: %w", dir, err)
		}
	}
	b, err = Create(dir)
	return b, true, err
}

// Create makes a new, empty index at dir ("" for one in memory).
func Create(dir string) (*Bleve, error) {
	m, err := newMapping()
	if err != nil {
		return nil, err
	}
	var idx bleve.Index
	if dir == "" {
		idx, err = bleve.NewMemOnly(m)
	} else {
		idx, err = bleve.New(dir, m)
	}
	if err != nil {
		return nil, err
	}
	if err := idx.SetInternal([]byte("mapping"), []byte(MappingVersion)); err != nil {
		return nil, err
	}
	return &Bleve{idx: idx}, nil
}

// folder is the analyzer, built once (analyzers are safe for concurrent use).
var folder = sync.OnceValue(func() analysis.Analyzer {
	m, err := newMapping()
	if err != nil {
		panic(err) // the mapping is a constant: a test would have failed
	}
	return m.AnalyzerNamed(analyzer)
})

// Fold is what the analyzer makes of text: lower-cased, accents folded,
// split into words.
func Fold(text string) []string {
	ts := folder().Analyze([]byte(text))
	out := make([]string, 0, len(ts))
	for _, t := range ts {
		out = append(out, string(t.Term))
	}
	return out
}

func visible(d domain.Doc) string {
	if d.Hidden {
		return "no"
	}
	return "yes"
}

// Put implements Index: one batch.
func (b *Bleve) Put(docs []domain.Doc) error {
	batch := b.idx.NewBatch()
	for _, d := range docs {
		raw, err := json.Marshal(d)
		if err != nil {
			return err
		}
		fields := map[string]any{"kind": string(d.Kind), "artistId": d.ArtistID, "albumId": d.AlbumID,
			"visible": visible(d), "doc": string(raw)}
		if !d.Hidden { // a hidden document has no words: no query can match it, with no filter to pay for
			fields["name"], fields["artistName"], fields["albumTitle"] = d.Name, d.ArtistName, d.AlbumTitle
			fields["all"] = d.Name + " " + d.ArtistName + " " + d.AlbumTitle
			fields["genre"], fields["decade"] = d.Genre, d.Decade()
		}
		if err := batch.Index(d.Key(), fields); err != nil {
			return err
		}
	}
	return b.idx.Batch(batch)
}

func (b *Bleve) docs(q query.Query, size int) ([]Hit, uint64, error) {
	req := bleve.NewSearchRequestOptions(q, size, 0, false)
	req.Fields = []string{"doc"}
	res, err := b.idx.Search(req)
	if err != nil {
		return nil, 0, err
	}
	out := make([]Hit, 0, len(res.Hits))
	for _, h := range res.Hits {
		raw, _ := h.Fields["doc"].(string)
		var d domain.Doc
		if err := json.Unmarshal([]byte(raw), &d); err != nil {
			return nil, 0, fmt.Errorf("document %s: %w", h.ID, err)
		}
		out = append(out, Hit{Doc: d, Score: h.Score})
	}
	return out, res.Total, nil
}

// Get implements Index.
func (b *Bleve) Get(key string) (*domain.Doc, error) {
	hits, _, err := b.docs(bleve.NewDocIDQuery([]string{key}), 1)
	if err != nil || len(hits) == 0 {
		return nil, err
	}
	return &hits[0].Doc, nil
}

func (b *Bleve) byField(field, value string) ([]domain.Doc, error) {
	t := bleve.NewTermQuery(value)
	t.SetField(field)
	hits, _, err := b.docs(t, 10_000)
	out := make([]domain.Doc, 0, len(hits))
	for _, h := range hits {
		out = append(out, h.Doc)
	}
	return out, err
}

// ByArtist implements Index: the albums and tracks of an artist.
func (b *Bleve) ByArtist(artistID string) ([]domain.Doc, error) {
	return b.byField("artistId", artistID)
}

// ByAlbum implements Index: an album's tracks.
func (b *Bleve) ByAlbum(albumID string) ([]domain.Doc, error) { return b.byField("albumId", albumID) }

// All implements Index, a page of 5,000 at a time.
func (b *Bleve) All(kind domain.Kind) ([]domain.Doc, error) {
	v := bleve.NewTermQuery("yes")
	v.SetField("visible")
	q := bleve.NewConjunctionQuery(kindFilter(kind), v)
	var out []domain.Doc
	for from := 0; ; from += 5000 {
		req := bleve.NewSearchRequestOptions(q, 5000, from, false)
		req.Fields = []string{"doc"}
		req.SortBy([]string{"_id"})
		res, err := b.idx.Search(req)
		if err != nil {
			return nil, err
		}
		for _, h := range res.Hits {
			raw, _ := h.Fields["doc"].(string)
			var d domain.Doc
			if err := json.Unmarshal([]byte(raw), &d); err != nil {
				return nil, fmt.Errorf("document %s: %w", h.ID, err)
			}
			out = append(out, d)
		}
		if len(res.Hits) < 5000 {
			return out, nil
		}
	}
}

// fuzziness forgives one typo in words of 5 letters or more, two from 9.
func fuzziness(word string) int {
	switch n := utf8.RuneCountInString(word); {
	case n >= 9:
		return 2
	case n >= 5:
		return 1
	}
	return 0
}

// fieldBoosts weigh where a word matched: the name most.
var fieldBoosts = []struct {
	field string
	boost float64
}{{"name", 3}, {"artistName", 2}, {"albumTitle", 1}}

// match is the query for words: each must match one of the fields, exactly
// (best, weighed by the field), as a prefix (the last word) or with a typo
// forgiven. A typo is looked for in "all" (the three fields in one), once
// per word: building the Levenshtein automaton is a fuzzy query's main cost.
// Hidden documents are indexed without words, so no filter is needed.
func match(words []string) query.Query {
	conj := make([]query.Query, 0, len(words))
	for i, w := range words {
		last := i == len(words)-1
		var any []query.Query
		for _, f := range fieldBoosts {
			t := bleve.NewTermQuery(w)
			t.SetField(f.field)
			t.SetBoost(f.boost * 2)
			any = append(any, t)
			if last {
				p := bleve.NewPrefixQuery(w)
				p.SetField(f.field)
				p.SetBoost(f.boost * 1.5)
				any = append(any, p)
			}
		}
		if fz := fuzziness(w); fz > 0 {
			q := bleve.NewFuzzyQuery(w)
			q.SetField("all")
			q.SetFuzziness(fz)
			q.SetBoost(1)
			any = append(any, q)
		}
		conj = append(conj, bleve.NewDisjunctionQuery(any...))
	}
	return bleve.NewConjunctionQuery(conj...)
}

// filtered restricts q to kinds; with every kind there is nothing to
// restrict (a filter matching every document costs a walk through them all).
func filtered(q query.Query, kinds []domain.Kind) query.Query {
	if len(kinds) >= len(domain.Kinds) {
		return q
	}
	return bleve.NewConjunctionQuery(q, kindFilter(kinds...))
}

func kindFilter(kinds ...domain.Kind) query.Query {
	qs := make([]query.Query, 0, len(kinds))
	for _, k := range kinds {
		t := bleve.NewTermQuery(string(k))
		t.SetField("kind")
		t.SetBoost(0)
		qs = append(qs, t)
	}
	return bleve.NewDisjunctionQuery(qs...)
}

// Search implements Index.
func (b *Bleve) Search(words []string, kinds []domain.Kind, size int) (Result, error) {
	if len(words) == 0 {
		return Result{}, nil
	}
	hits, total, err := b.docs(filtered(match(words), kinds), size)
	return Result{Hits: hits, Total: total}, err
}

// Facets implements Index.
func (b *Bleve) Facets(words []string, kinds []domain.Kind) (map[string][]Facet, error) {
	out := map[string][]Facet{"genre": {}, "decade": {}}
	if len(words) == 0 {
		return out, nil
	}
	req := bleve.NewSearchRequestOptions(filtered(match(words), kinds), 0, 0, false)
	req.AddFacet("genre", bleve.NewFacetRequest("genre", 20))
	req.AddFacet("decade", bleve.NewFacetRequest("decade", 20))
	res, err := b.idx.Search(req)
	if err != nil {
		return nil, err
	}
	for name, f := range res.Facets {
		if f.Terms == nil {
			continue
		}
		for _, t := range f.Terms.Terms() {
			if t.Term != "" {
				out[name] = append(out[name], Facet{Value: t.Term, Count: t.Count})
			}
		}
	}
	return out, nil
}

// Count implements Index.
func (b *Bleve) Count() (uint64, error) { return b.idx.DocCount() }

// Meta implements Index (nil when absent).
func (b *Bleve) Meta(key string) ([]byte, error) { return b.idx.GetInternal([]byte("meta:" + key)) }

// SetMeta implements Index.
func (b *Bleve) SetMeta(key string, v []byte) error {
	return b.idx.SetInternal([]byte("meta:"+key), v)
}

// Close implements Index.
func (b *Bleve) Close() error { return b.idx.Close() }
