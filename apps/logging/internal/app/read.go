package app

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/harmonia-music/harmonia/apps/logging/internal/domain"
	"github.com/harmonia-music/harmonia/internal/platform/audit"
	"github.com/harmonia-music/harmonia/internal/platform/state"
)

// Reader answers queries and verifies the chain. It never writes.
type Reader struct {
	KV      state.KV
	HMACKey []byte
	Public  ed25519.PublicKey
	Now     func() time.Time
}

// Query selects entries, newest first.
type Query struct {
	Actor     string // a user id (pseudonymised here), "system" or "anonymous"
	Action    string
	SubjectID string // a user id is pseudonymised; other ids are used as they are
	From, To  time.Time
	Limit     int
	Before    int64 // the cursor: only entries with a lower sequence number
}

// Page is one page of a query.
type Page struct {
	Items []domain.Entry
	Next  int64 // the cursor of the next page, 0 at the end
}

const (
	readBatch = 500
	// orderSlack: entries are appended in arrival order, so an entry's time
	// runs behind the one before it by at most a broker redelivery; a walk
	// newest-first stops this far past "from".
	orderSlack = time.Hour
)

func (r *Reader) getJSON(ctx context.Context, key string, v any) (bool, error) {
	b, _, err := r.KV.Get(ctx, key)
	if errors.Is(err, state.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, json.Unmarshal(b, v)
}

// pseudonymOf is the pseudonym a person's entries hold, or ok=false when
// they have none (never recorded, or forgotten).
func (r *Reader) pseudonymOf(ctx context.Context, id string) (string, bool, error) {
	if !isPerson(id) {
		return id, true, nil
	}
	var s domain.Salt
	found, err := r.getJSON(ctx, saltKey(domain.SaltRef(r.HMACKey, id)), &s)
	if err != nil || !found || s.Salt == nil {
		return "", false, err
	}
	return domain.Pseudonym(s.Salt, id), true, nil
}

func (r *Reader) anchor(ctx context.Context) (*domain.Checkpoint, error) {
	var a domain.Checkpoint
	found, err := r.getJSON(ctx, keyAnchor, &a)
	if err != nil || !found {
		return nil, err
	}
	return &a, nil
}

// Query answers from the indexes: the smallest of those the filters name
// (actor, action, subject), else the day index walked back from "to".
func (r *Reader) Query(ctx context.Context, q Query) (Page, error) {
	if q.Limit <= 0 {
		q.Limit = 50
	}
	var floor int64 // entries at or below were purged
	a, err := r.anchor(ctx)
	if err != nil {
		return Page{}, err
	}
	if a != nil {
		floor = a.Seq
	}
	var filters []string
	match := func(e domain.Entry) bool {
		return (q.From.IsZero() || !e.At.Before(q.From)) && (q.To.IsZero() || !e.At.After(q.To))
	}
	if q.Actor != "" {
		p, ok, err := r.pseudonymOf(ctx, q.Actor)
		if err != nil || !ok {
			return Page{}, err
		}
		filters = append(filters, indexKey(ByActor, p))
		prev := match
		match = func(e domain.Entry) bool { return e.Actor == p && prev(e) }
	}
	if q.Action != "" {
		filters = append(filters, indexKey(ByAction, q.Action))
		prev := match
		match = func(e domain.Entry) bool { return e.Action == q.Action && prev(e) }
	}
	if q.SubjectID != "" {
		sid := q.SubjectID
		if p, ok, err := r.pseudonymOf(ctx, sid); err != nil {
			return Page{}, err
		} else if ok {
			sid = p
		}
		filters = append(filters, indexKey(BySubject, sid))
		prev := match
		match = func(e domain.Entry) bool { return e.SubjectID == sid && prev(e) }
	}
	c := &collector{r: r, q: q, match: match, floor: floor, maxScan: max(20*q.Limit, 2000)}
	if len(filters) > 0 {
		heads, err := r.KV.GetMany(ctx, filters)
		if err != nil {
			return Page{}, err
		}
		best, bestCount := "", int64(-1)
		for _, ix := range filters {
			b, ok := heads[ix]
			if !ok {
				return Page{}, nil // a filter nothing matches
			}
			var h indexHead
			if err := json.Unmarshal(b, &h); err != nil {
				return Page{}, fmt.Errorf("index %s: %w", ix, err)
			}
			if bestCount < 0 || h.Count < bestCount {
				best, bestCount = ix, h.Count
			}
		}
		if _, err := c.walk(ctx, best, indexHead{Count: bestCount}); err != nil {
			return Page{}, err
		}
		return c.page(), nil
	}
	if err := c.walkDays(ctx); err != nil {
		return Page{}, err
	}
	return c.page(), nil
}

// collector gathers matching entries while an index is walked.
type collector struct {
	r       *Reader
	q       Query
	match   func(domain.Entry) bool
	floor   int64
	items   []domain.Entry
	scanned int
	maxScan int
	last    int64 // the last sequence number looked at
	cut     bool  // stopped at maxScan: there may be more
}

func (c *collector) full() bool { return len(c.items) >= c.q.Limit || c.cut }

func (c *collector) page() Page {
	p := Page{Items: c.items}
	if len(c.items) >= c.q.Limit {
		p.Next = c.items[len(c.items)-1].Seq
	} else if c.cut {
		p.Next = c.last
	}
	if p.Items == nil {
		p.Items = []domain.Entry{}
	}
	return p
}

// walk goes through one index newest-first; it returns true when the walk
// went past "from" (nothing older can match).
func (c *collector) walk(ctx context.Context, ix string, h indexHead) (bool, error) {
	pages := h.pages()
	top := pages - 1
	// Skip what is newer than the cursor, and (entries being near time
	// order) pages that start after "to": binary searches over the pages'
	// first entries, a few reads instead of a walk.
	if c.q.Before > 0 && pages > 1 {
		t, err := c.lastPage(ctx, ix, top, func(first int64, _ time.Time) bool { return first < c.q.Before }, false)
		if err != nil {
			return false, err
		}
		top = t
	}
	if !c.q.To.IsZero() && top > 0 {
		limit := c.q.To.Add(orderSlack)
		t, err := c.lastPage(ctx, ix, top, func(_ int64, at time.Time) bool { return !at.After(limit) }, true)
		if err != nil {
			return false, err
		}
		top = t
	}
	for p := top; p >= 0 && !c.full(); p-- {
		seqs, err := c.readPage(ctx, ix, p)
		if err != nil {
			return false, err
		}
		var want []int64
		for i := len(seqs) - 1; i >= 0; i-- {
			s := seqs[i]
			if (c.q.Before > 0 && s >= c.q.Before) || s <= c.floor {
				continue
			}
			want = append(want, s)
		}
		for len(want) > 0 && !c.full() {
			n := min(len(want), max(c.q.Limit-len(c.items), 64))
			older, err := c.take(ctx, want[:n])
			if err != nil || older {
				return older, err
			}
			want = want[n:]
		}
	}
	return false, nil
}

// lastPage is the last page in [0, top] whose first entry satisfies ok
// (pages are in sequence order, so ok holds for a prefix), or 0. withTime
// reads the first entry's time too.
func (c *collector) lastPage(ctx context.Context, ix string, top int, ok func(first int64, at time.Time) bool, withTime bool) (int, error) {
	lo, hi := 0, top
	for lo < hi {
		mid := (lo + hi + 1) / 2
		seqs, err := c.readPage(ctx, ix, mid)
		if err != nil {
			return 0, err
		}
		var at time.Time
		if len(seqs) > 0 && withTime {
			var e domain.Entry
			found, err := c.r.getJSON(ctx, entryKey(seqs[0]), &e)
			if err != nil {
				return 0, err
			}
			if !found { // purged: older than anything kept, so before "to"
				lo = mid
				continue
			}
			at = e.At
		}
		if len(seqs) > 0 && ok(seqs[0], at) {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo, nil
}

func (c *collector) readPage(ctx context.Context, ix string, p int) ([]int64, error) {
	var seqs []int64
	_, err := c.r.getJSON(ctx, pageKey(ix, p), &seqs)
	return seqs, err
}

// take reads entries (newest first) and keeps those that match. It reports
// whether it went past "from".
func (c *collector) take(ctx context.Context, seqs []int64) (bool, error) {
	keys := make([]string, len(seqs))
	for i, s := range seqs {
		keys[i] = entryKey(s)
	}
	got, err := c.r.KV.GetMany(ctx, keys)
	if err != nil {
		return false, err
	}
	for _, s := range seqs {
		c.scanned++
		c.last = s
		b, ok := got[entryKey(s)]
		if !ok {
			continue // purged
		}
		var e domain.Entry
		if err := json.Unmarshal(b, &e); err != nil {
			return false, fmt.Errorf("entry %d: %w", s, err)
		}
		if !c.q.From.IsZero() && e.At.Before(c.q.From.Add(-orderSlack)) {
			return true, nil
		}
		if c.match(e) {
			c.items = append(c.items, e)
			if len(c.items) >= c.q.Limit {
				return false, nil
			}
		}
		if c.scanned >= c.maxScan {
			c.cut = true
			return false, nil
		}
	}
	return false, nil
}

// walkDays walks the day indexes from "to" (or today) back to "from" (or
// the oldest entry kept).
func (c *collector) walkDays(ctx context.Context) error {
	end := c.r.Now()
	if !c.q.To.IsZero() && c.q.To.Before(end) {
		end = c.q.To
	}
	if c.q.Before > 0 { // resume on the cursor's day
		var e domain.Entry
		if found, err := c.r.getJSON(ctx, entryKey(c.q.Before), &e); err != nil {
			return err
		} else if found && e.At.Before(end) {
			end = e.At
		}
	}
	start := c.q.From
	if start.IsZero() {
		var first domain.Entry
		found, err := c.r.getJSON(ctx, entryKey(c.floor+1), &first)
		if err != nil || !found {
			return err
		}
		start = first.At
	}
	day := time.Date(end.Year(), end.Month(), end.Day(), 0, 0, 0, 0, time.UTC)
	stop := time.Date(start.Year(), start.Month(), start.Day(), 0, 0, 0, 0, time.UTC).Add(-24 * time.Hour)
	for day.After(stop) && !c.full() {
		var days []string
		for i := 0; i < 16 && day.After(stop); i++ {
			days = append(days, indexKey(ByDay, domain.Day(day)))
			day = day.Add(-24 * time.Hour)
		}
		heads, err := c.r.KV.GetMany(ctx, days)
		if err != nil {
			return err
		}
		for _, ix := range days {
			b, ok := heads[ix]
			if !ok {
				continue
			}
			var h indexHead
			if err := json.Unmarshal(b, &h); err != nil {
				return fmt.Errorf("index %s: %w", ix, err)
			}
			if _, err := c.walk(ctx, ix, h); err != nil || c.full() {
				return err
			}
		}
	}
	return nil
}

// Verification is verify's answer.
type Verification struct {
	OK          bool           `json:"ok"`
	Entries     int64          `json:"entries"`
	FirstSeq    int64          `json:"firstSeq,omitempty"`
	LastSeq     int64          `json:"lastSeq,omitempty"`
	Checkpoints int            `json:"checkpoints"`
	Broken      *domain.Broken `json:"broken,omitempty"`
}

// Verify recomputes the chain over [from, to]: from the last signed
// checkpoint at or before "from" (else the retention anchor, else the
// first entry), each entry's hash and its link to the one before, and every
// checkpoint passed on the way against its signature. Entries counts those
// in the range; Broken names the first that fails.
func (r *Reader) Verify(ctx context.Context, from, to time.Time) (Verification, error) {
	var v Verification
	var head domain.Head
	found, err := r.getJSON(ctx, keyHead, &head)
	if err != nil || !found {
		v.OK = err == nil
		return v, err
	}
	seq, prev := int64(1), domain.Genesis
	a, err := r.anchor(ctx)
	if err != nil {
		return v, err
	}
	if a != nil {
		if !a.Verify(r.Public) {
			v.Broken = &domain.Broken{Seq: a.Seq, ID: fmt.Sprint(a.Seq), Reason: "the retention anchor's signature does not verify"}
			return v, nil
		}
		seq, prev = a.Seq+1, a.Hash
	}
	cps, err := r.checkpoints(ctx)
	if err != nil {
		return v, err
	}
	if !from.IsZero() { // start at the last checkpoint at or before "from"
		for i := len(cps) - 1; i >= 0; i-- {
			if cp := cps[i]; cp.Seq >= seq && !cp.At.After(from) {
				if !cp.Verify(r.Public) {
					v.Broken = &domain.Broken{Seq: cp.Seq, ID: fmt.Sprint(cp.Seq), Reason: "its signed checkpoint's signature does not verify"}
					return v, nil
				}
				seq, prev = cp.Seq+1, cp.Hash
				break
			}
		}
	}
	bySeq := map[int64]domain.Checkpoint{}
	for _, cp := range cps {
		bySeq[cp.Seq] = cp
	}
	walked := true
	for seq <= head.Seq && walked {
		end := min(seq+readBatch-1, head.Seq)
		keys := make([]string, 0, end-seq+1)
		for s := seq; s <= end; s++ {
			keys = append(keys, entryKey(s))
		}
		got, err := r.KV.GetMany(ctx, keys)
		if err != nil {
			return v, err
		}
		for ; seq <= end; seq++ {
			b, ok := got[entryKey(seq)]
			var e domain.Entry
			reason := ""
			switch {
			case !ok:
				reason = "missing (deleted from the store)"
			case json.Unmarshal(b, &e) != nil:
				reason = "unreadable"
			default:
				reason = domain.Check(e, seq, prev)
			}
			if reason == "" {
				if cp, ok := bySeq[seq]; ok && (cp.Hash != e.Hash || !cp.Verify(r.Public)) {
					reason = "does not match its signed checkpoint (the chain was rewritten)"
				}
			}
			if reason != "" {
				v.Broken = &domain.Broken{Seq: seq, ID: fmt.Sprint(seq), Reason: reason}
				return v, nil
			}
			if (from.IsZero() || !e.At.Before(from)) && (to.IsZero() || !e.At.After(to)) {
				v.Entries++
				if v.FirstSeq == 0 {
					v.FirstSeq = seq
				}
				v.LastSeq = seq
			}
			if _, ok := bySeq[seq]; ok {
				v.Checkpoints++
			}
			prev = e.Hash
			if !to.IsZero() && e.At.After(to.Add(orderSlack)) {
				walked = false
				break
			}
		}
	}
	if walked && prev != head.Hash {
		v.Broken = &domain.Broken{Seq: head.Seq, ID: fmt.Sprint(head.Seq), Reason: "the chain head does not match the last entry"}
		return v, nil
	}
	v.OK = true
	return v, nil
}

// checkpoints lists the signed checkpoints, oldest first.
func (r *Reader) checkpoints(ctx context.Context) ([]domain.Checkpoint, error) {
	ix := indexKey(byCkpt, "all")
	var h indexHead
	if found, err := r.getJSON(ctx, ix, &h); err != nil || !found {
		return nil, err
	}
	var keys []string
	for p := 0; p < h.pages(); p++ {
		var seqs []int64
		if _, err := r.getJSON(ctx, pageKey(ix, p), &seqs); err != nil {
			return nil, err
		}
		for _, s := range seqs {
			keys = append(keys, checkpointKey(s))
		}
	}
	var out []domain.Checkpoint
	for len(keys) > 0 {
		n := min(len(keys), readBatch)
		got, err := r.KV.GetMany(ctx, keys[:n])
		if err != nil {
			return nil, err
		}
		for _, k := range keys[:n] {
			var cp domain.Checkpoint
			if b, ok := got[k]; ok && json.Unmarshal(b, &cp) == nil {
				out = append(out, cp)
			}
		}
		keys = keys[n:]
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out, nil
}

// purge is Writer.Purge's work, on the writer's goroutine.
func (w *Writer) purge(ctx context.Context, cutoff time.Time) (int, error) {
	if err := w.loadHead(ctx); err != nil {
		return 0, err
	}
	r := Reader{KV: w.kv}
	a, err := r.anchor(ctx)
	if err != nil {
		return 0, err
	}
	start := int64(1)
	if a != nil {
		start = a.Seq + 1
	}
	cutDay := domain.Day(cutoff)
	total := 0
	for start <= w.head.Seq {
		end := min(start+readBatch/2-1, w.head.Seq)
		keys := make([]string, 0, end-start+1)
		for s := start; s <= end; s++ {
			keys = append(keys, entryKey(s))
		}
		got, err := w.kv.GetMany(ctx, keys)
		if err != nil {
			return total, err
		}
		var ops []state.Op
		var last *domain.Entry
		days := map[string]bool{}
		done := false
		for s := start; s <= end; s++ {
			b, ok := got[entryKey(s)]
			if !ok {
				return total, fmt.Errorf("entry %d is missing: the purge stops (verify the chain)", s)
			}
			var e domain.Entry
			if err := json.Unmarshal(b, &e); err != nil {
				return total, fmt.Errorf("entry %d: %w", s, err)
			}
			if !e.At.Before(cutoff) {
				done = true
				break
			}
			ops = append(ops, state.Op{Key: entryKey(s), Delete: true})
			last = &e
			days[domain.Day(e.At)] = true
		}
		if last == nil {
			break
		}
		cp := domain.Checkpoint{Seq: last.Seq, Hash: last.Hash, At: w.cfg.Now()}
		cp.Sign(w.cfg.SigningKey)
		cb, _ := json.Marshal(cp)
		ops = append(ops, state.Op{Key: keyAnchor, Value: cb})
		var emptied []string
		for d := range days {
			if d >= cutDay {
				continue
			}
			ix := indexKey(ByDay, d)
			st, err := w.index(ctx, ix)
			if err != nil {
				return total, err
			}
			for p := 0; p < st.head.pages(); p++ {
				ops = append(ops, state.Op{Key: pageKey(ix, p), Delete: true})
			}
			ops = append(ops, state.Op{Key: ix, Delete: true})
			emptied = append(emptied, ix)
		}
		if err := w.kv.Transact(ctx, ops); err != nil {
			return total, err
		}
		for _, ix := range emptied {
			w.indexes.Put(ix, &indexState{})
		}
		total += int(last.Seq - start + 1)
		start = last.Seq + 1
		if done {
			break
		}
	}
	return total, nil
}

// Policy reports whether an action is one the audit log knows.
func Policy(action string) bool {
	_, ok := audit.Policies[action]
	return ok
}
