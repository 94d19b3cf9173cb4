// Package app holds the audit log's use cases: one writer that appends to
// the hash chain, forgets people, writes checkpoints and purges; queries and
// verification that read what it wrote.
package app

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/harmonia-music/harmonia/apps/logging/internal/domain"
	"github.com/harmonia-music/harmonia/internal/events"
	"github.com/harmonia-music/harmonia/internal/platform/audit"
	"github.com/harmonia-music/harmonia/internal/platform/batch"
	"github.com/harmonia-music/harmonia/internal/platform/cache"
	"github.com/harmonia-music/harmonia/internal/platform/state"
)

// Keys in logging-store.
const (
	keyHead   = "head"
	keyAnchor = "anchor"
	pageSize  = 256
	seenTTL   = 14 * 24 * 3600 // a redelivery comes within days, never weeks
	forever   = 100 * 365 * 24 * time.Hour
)

func entryKey(seq int64) string          { return fmt.Sprintf("e|%012d", seq) }
func seenKey(eventID string) string      { return "seen|" + eventID }
func saltKey(ref string) string          { return "salt|" + ref }
func checkpointKey(seq int64) string     { return fmt.Sprintf("ckpt|%012d", seq) }
func indexKey(kind, v string) string     { return "ix|" + kind + "|" + v }
func pageKey(ix string, page int) string { return ix + "|" + strconv.Itoa(page) }

// Index kinds.
const (
	ByActor   = "actor"
	ByAction  = "action"
	ByDay     = "day"
	BySubject = "subject"
	byCkpt    = "ckpt"
)

// indexHead says how many sequence numbers an index holds; they sit in
// pages of pageSize, ascending, the last page possibly partly filled.
type indexHead struct {
	Count int64 `json:"count"`
}

func (h indexHead) pages() int { return int((h.Count + pageSize - 1) / pageSize) }

// Incoming is an audit.recorded event as it arrived.
type Incoming struct {
	EventID string
	Service string // the CloudEvent source: the app that recorded it
	Event   events.AuditRecorded
}

// Config tunes the writer.
type Config struct {
	HMACKey    []byte             // keys where salts are kept (domain.SaltRef)
	SigningKey ed25519.PrivateKey // signs checkpoints
	MaxBatch   int                // entries per transaction
	Now        func() time.Time
	// Appended is told how many entries each commit added (metrics).
	Appended func(n int)
}

// ErrConflict is returned when the chain head kept moving under the writer
// (another writer): the event is retried by the broker.
var ErrConflict = errors.New("the audit chain head kept changing; try again")

type job struct {
	in     *Incoming
	forget string    // user id to forget
	ckpt   bool      // write a checkpoint
	purge  time.Time // purge entries older than this
	purged *int      // how many the purge removed
}

// Writer is the one writer of the chain. Its goroutine (Run) takes appends
// in batches; each batch commits in one transaction that replaces the head
// under its ETag, so a second writer (another replica) cannot fork the
// chain: its transaction fails and it reloads.
type Writer struct {
	kv   state.KV
	cfg  Config
	jobs *batch.Batcher[job]

	// owned by Run's goroutine
	head    domain.Head
	headTag string
	loaded  bool
	indexes *cache.LRU[string, *indexState]
	salts   *cache.LRU[string, []byte] // ref → salt; nil salt = forgotten
	lastCP  int64
}

type indexState struct {
	head indexHead
	last []int64 // the last page's contents
	// filled: pages this batch filled up (a batch may cross a page
	// boundary); written with the batch, never cached.
	filled map[int][]int64
}

// NewWriter makes the writer; call Run.
func NewWriter(kv state.KV, cfg Config) *Writer {
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 200
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Writer{kv: kv, cfg: cfg, jobs: batch.New[job](cfg.MaxBatch, func(j job) bool { return j.in == nil }),
		indexes: cache.New[string, *indexState](20_000, forever, cfg.Now),
		salts:   cache.New[string, []byte](50_000, forever, cfg.Now)}
}

// Append writes one event to the chain once (a redelivered event id is
// skipped) and returns when it is committed.
func (w *Writer) Append(ctx context.Context, in Incoming) error {
	return w.submit(ctx, job{in: &in})
}

// AppendMany writes events in one batch on the caller's goroutine, for a
// tool that fills a store without a broker (the benchmark's generator).
// Never call it while Run serves the same Writer.
func (w *Writer) AppendMany(ctx context.Context, ins []Incoming) error {
	batch := make([]job, len(ins))
	for i := range ins {
		batch[i] = job{in: &ins[i]}
	}
	return w.retry(ctx, func() error { return w.appendBatch(ctx, batch) })
}

// Forget crypto-shreds a person: their salt is replaced by a mark, so their
// pseudonyms can no longer be computed from their id; entries stay as they
// are and the chain still verifies.
func (w *Writer) Forget(ctx context.Context, userID string) error {
	return w.submit(ctx, job{forget: userID})
}

// Checkpoint signs the current head, if it moved since the last one.
func (w *Writer) Checkpoint(ctx context.Context) error { return w.submit(ctx, job{ckpt: true}) }

// Purge removes the entries written before cutoff (retention), oldest
// first, and moves the signed anchor verification starts from to the last
// one removed. It returns how many it removed.
func (w *Writer) Purge(ctx context.Context, cutoff time.Time) (int, error) {
	n := 0
	err := w.submit(ctx, job{purge: cutoff, purged: &n})
	return n, err
}

func (w *Writer) submit(ctx context.Context, j job) error { return w.jobs.Submit(ctx, j) }

// Run serves jobs until ctx ends: appends in batches, the other jobs alone.
func (w *Writer) Run(ctx context.Context) {
	w.jobs.Run(ctx, func(ctx context.Context, jobs []job) error {
		if jobs[0].in == nil {
			return w.retry(ctx, func() error { return w.single(ctx, jobs[0]) })
		}
		return w.retry(ctx, func() error { return w.appendBatch(ctx, jobs) })
	})
}

// retry runs fn again after a conflict (another writer moved the head),
// with everything cached dropped.
func (w *Writer) retry(ctx context.Context, fn func() error) error {
	for attempt := 0; attempt < 6; attempt++ {
		err := fn()
		if err == nil {
			return nil
		}
		w.reset()
		if !errors.Is(err, state.ErrConflict) {
			return err
		}
		if err := state.ConflictPause(ctx, attempt+1); err != nil {
			return err
		}
	}
	return ErrConflict
}

func (w *Writer) reset() {
	w.loaded = false
	w.indexes.Clear()
	w.salts.Clear()
}

func (w *Writer) loadHead(ctx context.Context) error {
	if w.loaded {
		return nil
	}
	b, tag, err := w.kv.Get(ctx, keyHead)
	switch {
	case errors.Is(err, state.ErrNotFound):
		w.head, w.headTag = domain.Head{Hash: domain.Genesis}, ""
	case err != nil:
		return err
	default:
		var h domain.Head
		if err := json.Unmarshal(b, &h); err != nil {
			return fmt.Errorf("audit head: %w", err)
		}
		w.head, w.headTag = h, tag
	}
	w.loaded = true
	return nil
}

// headOp replaces the head under the ETag it was read with.
func (w *Writer) headOp(h domain.Head) state.Op {
	b, _ := json.Marshal(h)
	if w.headTag == "" {
		return state.Op{Key: keyHead, Value: b, InsertOnly: true}
	}
	return state.Op{Key: keyHead, Value: b, ETag: w.headTag}
}

// committed re-reads the head's new ETag. If the head is not the one just
// written, another writer came in between: the caches are dropped.
func (w *Writer) committed(ctx context.Context, h domain.Head) {
	b, tag, err := w.kv.Get(ctx, keyHead)
	var got domain.Head
	if err != nil || json.Unmarshal(b, &got) != nil || got.Seq != h.Seq || got.Hash != h.Hash || got.Forgets != h.Forgets {
		w.reset()
		return
	}
	w.head, w.headTag = h, tag
}

func (w *Writer) appendBatch(ctx context.Context, batch []job) error {
	if err := w.loadHead(ctx); err != nil {
		return err
	}
	// Skip events already in the chain (a redelivery) or twice in the batch.
	seenKeys := make([]string, 0, len(batch))
	for _, j := range batch {
		seenKeys = append(seenKeys, seenKey(j.in.EventID))
	}
	seen, err := w.kv.GetMany(ctx, seenKeys)
	if err != nil {
		return err
	}
	var todo []*Incoming
	inBatch := map[string]bool{}
	for _, j := range batch {
		if _, ok := seen[seenKey(j.in.EventID)]; ok || inBatch[j.in.EventID] {
			continue
		}
		inBatch[j.in.EventID] = true
		todo = append(todo, j.in)
	}
	if len(todo) == 0 {
		return nil
	}
	var ops []state.Op
	pseudo, saltOps, err := w.pseudonymiser(ctx, todo)
	if err != nil {
		return err
	}
	ops = append(ops, saltOps...)
	entries := make([]domain.Entry, len(todo))
	var ixKeys []string
	for i, in := range todo {
		entries[i] = w.entryOf(in, pseudo)
		ixKeys = append(ixKeys, entryIndexes(entries[i])...)
	}
	if err := w.preload(ctx, ixKeys); err != nil {
		return err
	}
	h := w.head
	dirty := map[string]*indexState{}
	for i, in := range todo {
		e := entries[i]
		e.Seal(h.Seq+1, h.Hash)
		h = domain.Head{Seq: e.Seq, Hash: e.Hash, At: e.At, Forgets: h.Forgets}
		b, _ := json.Marshal(e)
		ops = append(ops,
			state.Op{Key: entryKey(e.Seq), Value: b, InsertOnly: true},
			state.Op{Key: seenKey(in.EventID), Value: []byte(strconv.FormatInt(e.Seq, 10)), TTLSeconds: seenTTL})
		for _, ix := range entryIndexes(e) {
			if err := w.indexAppend(ctx, ix, e.Seq, dirty); err != nil {
				return err
			}
		}
	}
	indexOps, staged := w.indexOps(dirty)
	ops = append(ops, indexOps...)
	ops = append(ops, w.headOp(h))
	if err := w.kv.Transact(ctx, ops); err != nil {
		return err
	}
	staged()
	w.committed(ctx, h)
	if w.cfg.Appended != nil {
		w.cfg.Appended(len(todo))
	}
	return nil
}

// indexOps writes the indexes a batch changed; staged puts them in the
// cache, once the transaction committed.
func (w *Writer) indexOps(dirty map[string]*indexState) ([]state.Op, func()) {
	var ops []state.Op
	for ix, st := range dirty {
		hb, _ := json.Marshal(st.head)
		pb, _ := json.Marshal(st.last)
		ops = append(ops, state.Op{Key: ix, Value: hb}, state.Op{Key: pageKey(ix, st.head.pages()-1), Value: pb})
		for p, seqs := range st.filled {
			fb, _ := json.Marshal(seqs)
			ops = append(ops, state.Op{Key: pageKey(ix, p), Value: fb})
		}
	}
	return ops, func() {
		for ix, st := range dirty {
			w.indexes.Put(ix, &indexState{head: st.head, last: st.last})
		}
	}
}

// entryIndexes are the indexes an entry is listed in.
func entryIndexes(e domain.Entry) []string {
	out := []string{indexKey(ByActor, e.Actor), indexKey(ByAction, e.Action), indexKey(ByDay, domain.Day(e.At))}
	if e.SubjectID != "" {
		out = append(out, indexKey(BySubject, e.SubjectID))
	}
	return out
}

// indexAppend adds seq to an index, in the copy staged for this batch.
func (w *Writer) indexAppend(ctx context.Context, ix string, seq int64, dirty map[string]*indexState) error {
	st, ok := dirty[ix]
	if !ok {
		cur, err := w.index(ctx, ix)
		if err != nil {
			return err
		}
		st = &indexState{head: cur.head, last: append([]int64(nil), cur.last...)}
		dirty[ix] = st
	}
	if st.head.Count%pageSize == 0 && len(st.last) > 0 {
		if st.filled == nil {
			st.filled = map[int][]int64{}
		}
		st.filled[st.head.pages()-1] = st.last
		st.last = nil
	}
	st.last = append(st.last, seq)
	st.head.Count++
	return nil
}

// preload reads, in two bulk reads, the heads and last pages of the
// indexes a batch touches that are not cached.
func (w *Writer) preload(ctx context.Context, keys []string) error {
	var missing []string
	seen := map[string]bool{}
	for _, k := range keys {
		if seen[k] {
			continue
		}
		seen[k] = true
		if _, ok := w.indexes.Get(k); !ok {
			missing = append(missing, k)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	heads, err := w.kv.GetMany(ctx, missing)
	if err != nil {
		return err
	}
	states := map[string]*indexState{}
	var pages []string
	for _, k := range missing {
		st := &indexState{}
		if b, ok := heads[k]; ok {
			if err := json.Unmarshal(b, &st.head); err != nil {
				return fmt.Errorf("index %s: %w", k, err)
			}
			if st.head.Count%pageSize != 0 {
				pages = append(pages, pageKey(k, st.head.pages()-1))
			}
		}
		states[k] = st
	}
	if len(pages) > 0 {
		got, err := w.kv.GetMany(ctx, pages)
		if err != nil {
			return err
		}
		for _, k := range missing {
			st := states[k]
			if st.head.Count%pageSize == 0 {
				continue
			}
			b, ok := got[pageKey(k, st.head.pages()-1)]
			if !ok {
				return fmt.Errorf("index %s: its last page is missing", k)
			}
			if err := json.Unmarshal(b, &st.last); err != nil {
				return fmt.Errorf("index %s last page: %w", k, err)
			}
		}
	}
	for k, st := range states {
		w.indexes.Put(k, st)
	}
	return nil
}

// index reads an index's head and last page (cached).
func (w *Writer) index(ctx context.Context, ix string) (*indexState, error) {
	if st, ok := w.indexes.Get(ix); ok {
		return st, nil
	}
	st := &indexState{}
	b, _, err := w.kv.Get(ctx, ix)
	if err != nil && !errors.Is(err, state.ErrNotFound) {
		return nil, err
	}
	if err == nil {
		if err := json.Unmarshal(b, &st.head); err != nil {
			return nil, fmt.Errorf("index %s: %w", ix, err)
		}
		if st.head.Count%pageSize != 0 {
			pb, _, err := w.kv.Get(ctx, pageKey(ix, st.head.pages()-1))
			if err != nil {
				return nil, fmt.Errorf("index %s last page: %w", ix, err)
			}
			if err := json.Unmarshal(pb, &st.last); err != nil {
				return nil, fmt.Errorf("index %s last page: %w", ix, err)
			}
		}
	}
	w.indexes.Put(ix, st)
	return st, nil
}

// entryOf makes the entry of an event, people's ids pseudonymised.
func (w *Writer) entryOf(in *Incoming, pseudo func(string) string) domain.Entry {
	ev := in.Event
	e := domain.Entry{EventID: in.EventID, Service: in.Service, At: ev.At, Action: ev.Action, Outcome: ev.Outcome,
		SubjectType: ev.SubjectType, SubjectID: ev.SubjectID, RequestID: ev.RequestID, TraceID: ev.TraceID}
	e.Actor = pseudo(ev.Actor)
	if ev.SubjectType == "user" {
		e.SubjectID = pseudo(ev.SubjectID)
	}
	// The publisher scrubbed details; logging applies the same policy again
	// (a publisher on an older build, or one that bypassed the helper).
	p := audit.Policies[ev.Action]
	if d := audit.Scrub(p, ev.Details); len(d) > 0 {
		for _, k := range p.People {
			if v, ok := d[k]; ok {
				d[k] = pseudo(v)
			}
		}
		e.Details = d
	}
	return e
}

// people lists the person ids an event carries.
func people(ev events.AuditRecorded) []string {
	var out []string
	if isPerson(ev.Actor) {
		out = append(out, ev.Actor)
	}
	if ev.SubjectType == "user" && ev.SubjectID != "" {
		out = append(out, ev.SubjectID)
	}
	for _, k := range audit.Policies[ev.Action].People {
		if v := ev.Details[k]; v != "" {
			out = append(out, v)
		}
	}
	return out
}

func isPerson(actor string) bool {
	return actor != "" && actor != audit.System && actor != audit.Anonymous
}

// pseudonymiser finds (or makes) the salt of every person in the batch and
// returns the function that pseudonymises their ids, with the writes of new
// salts (insert-only: a salt another writer made first wins, by conflict).
func (w *Writer) pseudonymiser(ctx context.Context, todo []*Incoming) (func(string) string, []state.Op, error) {
	salts := map[string][]byte{} // id → salt (nil: forgotten)
	var missing []string
	refOf := map[string]string{}
	for _, in := range todo {
		for _, id := range people(in.Event) {
			if _, ok := refOf[id]; ok {
				continue
			}
			ref := domain.SaltRef(w.cfg.HMACKey, id)
			refOf[id] = ref
			if s, ok := w.salts.Get(ref); ok {
				salts[id] = s
				continue
			}
			missing = append(missing, id)
		}
	}
	var ops []state.Op
	if len(missing) > 0 {
		keys := make([]string, len(missing))
		for i, id := range missing {
			keys[i] = saltKey(refOf[id])
		}
		got, err := w.kv.GetMany(ctx, keys)
		if err != nil {
			return nil, nil, err
		}
		for _, id := range missing {
			ref := refOf[id]
			if b, ok := got[saltKey(ref)]; ok {
				var s domain.Salt
				if err := json.Unmarshal(b, &s); err != nil {
					return nil, nil, fmt.Errorf("salt: %w", err)
				}
				salts[id] = s.Salt // nil when forgotten
				w.salts.Put(ref, s.Salt)
				continue
			}
			s := domain.Salt{Salt: make([]byte, 32), At: w.cfg.Now().UTC()}
			if _, err := rand.Read(s.Salt); err != nil {
				return nil, nil, err
			}
			b, _ := json.Marshal(s)
			ops = append(ops, state.Op{Key: saltKey(ref), Value: b, InsertOnly: true})
			salts[id] = s.Salt
			w.salts.Put(ref, s.Salt)
		}
	}
	return func(id string) string {
		if !isPerson(id) {
			return id
		}
		s, ok := salts[id]
		if !ok || s == nil {
			// A forgotten person (or one we could not look up): a salt
			// nobody keeps, so the entry is tied to nobody.
			s = make([]byte, 32)
			_, _ = rand.Read(s)
		}
		return domain.Pseudonym(s, id)
	}, ops, nil
}

// single runs a forget or a checkpoint job.
func (w *Writer) single(ctx context.Context, j job) error {
	if err := w.loadHead(ctx); err != nil {
		return err
	}
	switch {
	case j.forget != "":
		ref := domain.SaltRef(w.cfg.HMACKey, j.forget)
		b, _ := json.Marshal(domain.Salt{Forgotten: true, At: w.cfg.Now().UTC()})
		h := w.head
		h.Forgets++ // other writers' cached salts go stale with the head's ETag
		if err := w.kv.Transact(ctx, []state.Op{{Key: saltKey(ref), Value: b}, w.headOp(h)}); err != nil {
			return err
		}
		w.salts.Put(ref, nil)
		w.committed(ctx, h)
		return nil
	case !j.purge.IsZero():
		n, err := w.purge(ctx, j.purge)
		*j.purged += n
		return err
	case j.ckpt:
		if w.head.Seq == 0 || w.head.Seq == w.lastCP {
			return nil
		}
		cp := domain.Checkpoint{Seq: w.head.Seq, Hash: w.head.Hash, At: w.cfg.Now()}
		cp.Sign(w.cfg.SigningKey)
		cb, _ := json.Marshal(cp)
		ix := indexKey(byCkpt, "all")
		cur, err := w.index(ctx, ix)
		if err != nil {
			return err
		}
		if n := len(cur.last); n > 0 && cur.last[n-1] == cp.Seq { // written already (by another replica)
			w.lastCP = cp.Seq
			return nil
		}
		dirty := map[string]*indexState{}
		if err := w.indexAppend(ctx, ix, cp.Seq, dirty); err != nil {
			return err
		}
		ops, staged := w.indexOps(dirty)
		ops = append(ops, state.Op{Key: checkpointKey(cp.Seq), Value: cb}, w.headOp(w.head))
		if err := w.kv.Transact(ctx, ops); err != nil {
			return err
		}
		staged()
		w.lastCP = cp.Seq
		w.committed(ctx, w.head)
		return nil
	}
	return nil
}
