package app

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/harmonia-music/harmonia/apps/logging/internal/domain"
	"github.com/harmonia-music/harmonia/internal/events"
	"github.com/harmonia-music/harmonia/internal/platform/state"
)

var t0 = time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)

type rig struct {
	kv     *state.Memory
	w      *Writer
	r      *Reader
	now    time.Time
	cancel context.CancelFunc
}

func newRig(t *testing.T, kv *state.Memory) *rig {
	t.Helper()
	if kv == nil {
		kv = state.NewMemory()
	}
	seed := bytes.Repeat([]byte{7}, ed25519.SeedSize)
	key := ed25519.NewKeyFromSeed(seed)
	g := &rig{kv: kv, now: t0}
	now := func() time.Time { return g.now }
	hk := []byte("0123456789abcdef0123456789abcdef")
	g.w = NewWriter(kv, Config{HMACKey: hk, SigningKey: key, MaxBatch: 50, Now: now})
	g.r = &Reader{KV: kv, HMACKey: hk, Public: key.Public().(ed25519.PublicKey), Now: now}
	ctx, cancel := context.WithCancel(context.Background())
	g.cancel = cancel
	t.Cleanup(cancel)
	go g.w.Run(ctx)
	return g
}

func ev(id, actor, action string, at time.Time, subject ...string) Incoming {
	e := events.AuditRecorded{Actor: actor, Action: action, Outcome: "success", At: at}
	if len(subject) == 2 {
		e.SubjectType, e.SubjectID = subject[0], subject[1]
	}
	return Incoming{EventID: id, Service: "test", Event: e}
}

func (g *rig) append(t *testing.T, in ...Incoming) {
	t.Helper()
	for _, i := range in {
		if err := g.w.Append(context.Background(), i); err != nil {
			t.Fatal(err)
		}
	}
}

func (g *rig) verify(t *testing.T) Verification {
	t.Helper()
	v, err := g.r.Verify(context.Background(), time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestAppendsFormAChainThatVerifies(t *testing.T) {
	g := newRig(t, nil)
	for i := 0; i < 600; i++ { // more than two index pages
		g.append(t, ev(fmt.Sprint("e", i), "u-1", "auth.login.succeeded", t0.Add(time.Duration(i)*time.Second), "user", "u-1"))
	}
	v := g.verify(t)
	if !v.OK || v.Entries != 600 || v.Broken != nil {
		t.Fatalf("verify = %+v", v)
	}
	var first, second domain.Entry
	b, _, _ := g.kv.Get(context.Background(), entryKey(1))
	_ = json.Unmarshal(b, &first)
	b, _, _ = g.kv.Get(context.Background(), entryKey(2))
	_ = json.Unmarshal(b, &second)
	if first.Prev != domain.Genesis || second.Prev != first.Hash || first.Actor == "u-1" || !strings.HasPrefix(first.Actor, "p-") ||
		first.SubjectID != first.Actor {
		t.Fatalf("chain or pseudonyms wrong: %+v %+v", first, second)
	}
}

func TestARedeliveredEventIsWrittenOnce(t *testing.T) {
	g := newRig(t, nil)
	in := ev("same", "u-1", "auth.logout", t0)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); _ = g.w.Append(context.Background(), in) }()
	}
	wg.Wait()
	g.append(t, in)
	if v := g.verify(t); !v.OK || v.Entries != 1 {
		t.Fatalf("verify = %+v", v)
	}
}

// Two writers (two replicas) on one store: the head's ETag makes one of
// them retry, so the chain never forks and nothing is lost.
func TestTwoWritersNeverForkTheChain(t *testing.T) {
	kv := state.NewMemory()
	a, b := newRig(t, kv), newRig(t, kv)
	var wg sync.WaitGroup
	errs := make(chan error, 400)
	for i := 0; i < 200; i++ {
		for j, g := range []*rig{a, b} {
			wg.Add(1)
			go func(i, j int, g *rig) {
				defer wg.Done()
				errs <- g.w.Append(context.Background(), ev(fmt.Sprintf("w%d-%d", j, i), "u-1", "auth.logout", t0))
			}(i, j, g)
		}
	}
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		if err != nil {
			failed++
		}
	}
	v := a.verify(t)
	if !v.OK || v.Entries != int64(400-failed) {
		t.Fatalf("verify = %+v with %d failed appends", v, failed)
	}
	page, err := a.r.Query(context.Background(), Query{Actor: "u-1", Limit: 500})
	if err != nil || len(page.Items) != 400-failed {
		t.Fatalf("actor index holds %d of %d entries (err %v)", len(page.Items), 400-failed, err)
	}
}

func tamper(t *testing.T, kv *state.Memory, seq int64, edit func(*domain.Entry)) {
	t.Helper()
	b, _, err := kv.Get(context.Background(), entryKey(seq))
	if err != nil {
		t.Fatal(err)
	}
	var e domain.Entry
	_ = json.Unmarshal(b, &e)
	edit(&e)
	nb, _ := json.Marshal(e)
	if err := kv.Transact(context.Background(), []state.Op{{Key: entryKey(seq), Value: nb}}); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyNamesTheFirstTamperedEntry(t *testing.T) {
	cases := map[string]func(*domain.Entry){
		"edited":              func(e *domain.Entry) { e.Outcome = "failure" },
		"edited and rehashed": func(e *domain.Entry) { e.Outcome = "failure"; e.Hash = e.ComputeHash() }, // the next entry's link breaks
	}
	for name, edit := range cases {
		t.Run(name, func(t *testing.T) {
			g := newRig(t, nil)
			for i := 0; i < 20; i++ {
				g.append(t, ev(fmt.Sprint(i), "u-1", "payment.charged", t0, "payment", fmt.Sprint("c", i)))
			}
			tamper(t, g.kv, 7, edit)
			v := g.verify(t)
			if v.OK || v.Broken == nil || (v.Broken.Seq != 7 && v.Broken.Seq != 8) {
				t.Fatalf("verify = %+v", v)
			}
		})
	}
	t.Run("whole chain rewritten after a checkpoint", func(t *testing.T) {
		g := newRig(t, nil)
		for i := 0; i < 10; i++ {
			g.append(t, ev(fmt.Sprint(i), "u-1", "payment.charged", t0, "payment", fmt.Sprint("c", i)))
		}
		if err := g.w.Checkpoint(context.Background()); err != nil {
			t.Fatal(err)
		}
		prev := domain.Genesis
		for s := int64(1); s <= 10; s++ { // rewrite every hash: only the signature can tell
			tamper(t, g.kv, s, func(e *domain.Entry) {
				if s == 3 {
					e.Outcome = "failure"
				}
				e.Prev = prev
				e.Hash = e.ComputeHash()
				prev = e.Hash
			})
		}
		head := domain.Head{Seq: 10, Hash: prev, At: t0}
		hb, _ := json.Marshal(head)
		_ = g.kv.Transact(context.Background(), []state.Op{{Key: keyHead, Value: hb}})
		v := g.verify(t)
		if v.OK || v.Broken == nil || v.Broken.Seq != 10 || !strings.Contains(v.Broken.Reason, "checkpoint") {
			t.Fatalf("verify = %+v", v)
		}
	})
	t.Run("deleted", func(t *testing.T) {
		g := newRig(t, nil)
		for i := 0; i < 5; i++ {
			g.append(t, ev(fmt.Sprint(i), "u-1", "auth.logout", t0))
		}
		_ = g.kv.Transact(context.Background(), []state.Op{{Key: entryKey(3), Delete: true}})
		if v := g.verify(t); v.OK || v.Broken.Seq != 3 || !strings.Contains(v.Broken.Reason, "missing") {
			t.Fatalf("verify = %+v", v)
		}
	})
}

func TestForgettingAPersonKeepsTheChainAndUnlinksTheirEntries(t *testing.T) {
	g := newRig(t, nil)
	g.append(t, ev("1", "u-1", "auth.login.succeeded", t0, "user", "u-1"), ev("2", "u-2", "auth.login.succeeded", t0))
	page, _ := g.r.Query(context.Background(), Query{Actor: "u-1"})
	if len(page.Items) != 1 {
		t.Fatalf("before: %d entries for u-1", len(page.Items))
	}
	before := g.kv.Dump()
	if err := g.w.Forget(context.Background(), "u-1"); err != nil {
		t.Fatal(err)
	}
	// After the account is gone, a late event of theirs is tied to nobody.
	g.append(t, ev("3", "u-1", "user.deleted", t0, "user", "u-1"))
	for _, q := range []Query{{Actor: "u-1"}, {SubjectID: "u-1"}} {
		if page, err := g.r.Query(context.Background(), q); err != nil || len(page.Items) != 0 {
			t.Fatalf("after forget %+v: %d entries (err %v)", q, len(page.Items), err)
		}
	}
	if page, _ := g.r.Query(context.Background(), Query{Actor: "u-2"}); len(page.Items) != 1 {
		t.Fatal("someone else's entries went too")
	}
	if v := g.verify(t); !v.OK || v.Entries != 3 {
		t.Fatalf("verify after forget = %+v", v)
	}
	for k, v := range g.kv.Dump() {
		if strings.Contains(k, "u-1") || bytes.Contains(v, []byte(`"u-1"`)) {
			t.Errorf("the store still holds u-1 in %s", k)
		}
		if strings.HasPrefix(k, "salt|") && bytes.Equal(before[k], v) && bytes.Contains(v, []byte(`"salt"`)) {
			// u-2's salt is unchanged; u-1's must not be
			var s domain.Salt
			_ = json.Unmarshal(v, &s)
			if domain.Pseudonym(s.Salt, "u-1") == mustFirstActor(t, g) {
				t.Error("u-1's salt survived the forget")
			}
		}
	}
}

func mustFirstActor(t *testing.T, g *rig) string {
	b, _, err := g.kv.Get(context.Background(), entryKey(1))
	if err != nil {
		t.Fatal(err)
	}
	var e domain.Entry
	_ = json.Unmarshal(b, &e)
	return e.Actor
}

func TestQueryUsesIndexesNewestFirstWithACursor(t *testing.T) {
	g := newRig(t, nil)
	for i := 0; i < 300; i++ {
		actor, action := "u-1", "auth.login.succeeded"
		if i%3 == 0 {
			actor, action = "u-2", "payment.charged"
		}
		g.append(t, ev(fmt.Sprint(i), actor, action, t0.Add(time.Duration(i)*time.Minute)))
	}
	g.now = t0.Add(24 * time.Hour)
	var got []int64
	q := Query{Action: "payment.charged", Limit: 30}
	for {
		page, err := g.r.Query(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Items {
			if e.Action != "payment.charged" {
				t.Fatalf("entry %d is %s", e.Seq, e.Action)
			}
			got = append(got, e.Seq)
		}
		if page.Next == 0 {
			break
		}
		q.Before = page.Next
	}
	if len(got) != 100 {
		t.Fatalf("paged through %d entries, want 100", len(got))
	}
	for i := 1; i < len(got); i++ {
		if got[i] >= got[i-1] {
			t.Fatal("not newest first")
		}
	}
	// by day, with a time window
	page, err := g.r.Query(context.Background(), Query{From: t0.Add(60 * time.Minute), To: t0.Add(69 * time.Minute), Limit: 50})
	if err != nil || len(page.Items) != 10 || page.Items[0].Seq != 70 || page.Items[9].Seq != 61 {
		t.Fatalf("time window: %d items (err %v)", len(page.Items), err)
	}
	// actor and action together: the smaller index is walked, both filter
	page, _ = g.r.Query(context.Background(), Query{Actor: "u-2", Action: "auth.login.succeeded"})
	if len(page.Items) != 0 {
		t.Fatal("a filter was ignored")
	}
	if page, _ := g.r.Query(context.Background(), Query{Actor: "nobody"}); len(page.Items) != 0 {
		t.Fatal("an unknown actor matched")
	}
}

func TestPurgeAnchorsWhatItRemovedAndVerifyStartsThere(t *testing.T) {
	g := newRig(t, nil)
	for i := 0; i < 50; i++ {
		g.append(t, ev(fmt.Sprint(i), "u-1", "auth.logout", t0.Add(time.Duration(i)*24*time.Hour)))
	}
	n, err := g.w.Purge(context.Background(), t0.Add(20*24*time.Hour))
	if err != nil || n != 20 {
		t.Fatalf("purged %d (err %v), want 20", n, err)
	}
	if _, _, err := g.kv.Get(context.Background(), indexKey(ByDay, domain.Day(t0))); err == nil {
		t.Error("the first day's index survived the purge")
	}
	if v := g.verify(t); !v.OK || v.Entries != 30 {
		t.Fatalf("verify after purge = %+v", v)
	}
	g.now = t0.Add(60 * 24 * time.Hour)
	if page, _ := g.r.Query(context.Background(), Query{Limit: 100}); len(page.Items) != 30 {
		t.Fatalf("query after purge: %d", len(page.Items))
	}
	// a forged anchor (moved past entries to hide them) fails its signature
	var a domain.Checkpoint
	b, _, _ := g.kv.Get(context.Background(), keyAnchor)
	_ = json.Unmarshal(b, &a)
	a.Seq += 5
	ab, _ := json.Marshal(a)
	_ = g.kv.Transact(context.Background(), []state.Op{{Key: keyAnchor, Value: ab}})
	if v := g.verify(t); v.OK || !strings.Contains(v.Broken.Reason, "anchor") {
		t.Fatalf("verify with a forged anchor = %+v", v)
	}
}

func TestVerifyFromStartsAtTheLastCheckpointBefore(t *testing.T) {
	g := newRig(t, nil)
	for i := 0; i < 10; i++ {
		if i == 5 {
			g.now = t0.Add(4*time.Hour + 30*time.Minute)
			if err := g.w.Checkpoint(context.Background()); err != nil {
				t.Fatal(err)
			}
			if err := g.w.Checkpoint(context.Background()); err != nil { // nothing new: no second checkpoint
				t.Fatal(err)
			}
		}
		g.append(t, ev(fmt.Sprint(i), "system", "subscription.renewed", t0.Add(time.Duration(i)*time.Hour)))
	}
	if cps, _ := g.r.checkpoints(context.Background()); len(cps) != 1 || cps[0].Seq != 5 {
		t.Fatalf("checkpoints = %+v", cps)
	}
	tamper(t, g.kv, 2, func(e *domain.Entry) { e.Outcome = "x" }) // before the checkpoint
	v, err := g.r.Verify(context.Background(), t0.Add(6*time.Hour), time.Time{})
	if err != nil || !v.OK || v.Entries != 4 {
		t.Fatalf("verify from after the checkpoint = %+v (err %v)", v, err)
	}
	if v := g.verify(t); v.OK || v.Broken.Seq != 2 || v.Checkpoints != 0 {
		t.Fatalf("verify of everything = %+v", v)
	}
}

// A narrow window deep in a long index is found by skipping pages, and the
// answer is exact.
func TestAWindowDeepInALongIndexIsExact(t *testing.T) {
	g := newRig(t, nil)
	var ins []Incoming
	for i := 0; i < 3000; i++ {
		ins = append(ins, ev(fmt.Sprint(i), "u-1", "auth.logout", t0.Add(time.Duration(i)*time.Minute)))
	}
	g.cancel() // AppendMany runs on this goroutine
	for len(ins) > 0 {
		n := min(len(ins), 700) // batches that cross page boundaries
		if err := g.w.AppendMany(context.Background(), ins[:n]); err != nil {
			t.Fatal(err)
		}
		ins = ins[n:]
	}
	g.now = t0.Add(72 * time.Hour)
	from, to := t0.Add(1000*time.Minute), t0.Add(1009*time.Minute)
	for _, q := range []Query{{Action: "auth.logout", From: from, To: to, Limit: 50}, {Actor: "u-1", From: from, To: to, Limit: 50}, {From: from, To: to, Limit: 50}} {
		page, err := g.r.Query(context.Background(), q)
		if err != nil || len(page.Items) != 10 || page.Items[0].Seq != 1010 || page.Items[9].Seq != 1001 || page.Next != 0 {
			t.Fatalf("%+v: %d items, next %d (err %v)", q, len(page.Items), page.Next, err)
		}
	}
	if v := g.verify(t); !v.OK || v.Entries != 3000 {
		t.Fatalf("verify = %+v", v)
	}
}

// Replica b forgets a person while replica a holds their salt in its cache:
// the forget rewrites the head, so a's next append fails on the head's ETag,
// reloads, and ties the new entry to nobody.
func TestAForgetOnOneReplicaReachesTheOthersCachedSalt(t *testing.T) {
	kv := state.NewMemory()
	a, b := newRig(t, kv), newRig(t, kv)
	a.append(t, ev("1", "u-1", "auth.login.succeeded", t0))
	first := mustFirstActor(t, a)
	if err := b.w.Forget(context.Background(), "u-1"); err != nil {
		t.Fatal(err)
	}
	a.append(t, ev("2", "u-1", "auth.logout", t0))
	var e domain.Entry
	raw, _, _ := kv.Get(context.Background(), entryKey(2))
	_ = json.Unmarshal(raw, &e)
	if e.Actor == first || e.Actor == "" {
		t.Fatalf("the entry after the forget is still tied to the person: %s", e.Actor)
	}
	if page, _ := a.r.Query(context.Background(), Query{Actor: "u-1"}); len(page.Items) != 0 {
		t.Fatalf("the forgotten person still matches %d entries", len(page.Items))
	}
	if v := a.verify(t); !v.OK || v.Entries != 2 {
		t.Fatalf("verify = %+v", v)
	}
}

// Two replicas write the hourly checkpoint at once: the head is signed once.
func TestTwoReplicasCheckpointTheHeadOnce(t *testing.T) {
	kv := state.NewMemory()
	a, b := newRig(t, kv), newRig(t, kv)
	a.append(t, ev("1", "system", "subscription.renewed", t0))
	var wg sync.WaitGroup
	for _, g := range []*rig{a, b, a, b} {
		wg.Add(1)
		go func(g *rig) { defer wg.Done(); _ = g.w.Checkpoint(context.Background()) }(g)
	}
	wg.Wait()
	cps, err := a.r.checkpoints(context.Background())
	if err != nil || len(cps) != 1 || cps[0].Seq != 1 {
		t.Fatalf("checkpoints: %+v (err %v)", cps, err)
	}
	if v := a.verify(t); !v.OK || v.Checkpoints != 1 {
		t.Fatalf("verify = %+v", v)
	}
}
