package state_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/harmonia-music/harmonia/internal/events"
	"github.com/harmonia-music/harmonia/internal/platform/state"
)

type item struct{ N int }

// racingKV lets another writer slip in before the first n writes.
type racingKV struct {
	*state.Memory
	races int
}

func (r *racingKV) Transact(ctx context.Context, ops []state.Op) error {
	if r.races > 0 && ops[0].ETag != "" {
		r.races--
		// someone else writes first
		if err := r.Memory.Transact(ctx, []state.Op{{Key: ops[0].Key, Value: []byte(`{"N":100}`)}}); err != nil {
			return err
		}
	}
	return r.Memory.Transact(ctx, ops)
}

func TestUpdateRetriesConflictsOnFreshData(t *testing.T) {
	ctx := context.Background()
	kv := &racingKV{Memory: state.NewMemory(), races: 2}
	repo := state.Repo[item]{KV: kv, Prefix: "i|"}
	if err := repo.Create(ctx, "a", &item{N: 1}); err != nil {
		t.Fatal(err)
	}
	calls := 0
	got, err := repo.Update(ctx, "a", func(i *item) error { calls++; i.N++; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if calls != 3 || got.N != 101 {
		t.Fatalf("calls=%d N=%d: the update must re-read after a conflict", calls, got.N)
	}
	kv.races = 10
	if _, err := repo.Update(ctx, "a", func(i *item) error { i.N++; return nil }); !errors.Is(err, state.ErrConflict) {
		t.Fatalf("endless conflicts must end: %v", err)
	}
}

func TestRepoBasics(t *testing.T) {
	ctx := context.Background()
	kv := state.NewMemory()
	notFound := errors.New("no item")
	repo := state.Repo[item]{KV: kv, Prefix: "i|", NotFound: notFound}
	if _, err := repo.Get(ctx, "x"); !errors.Is(err, notFound) {
		t.Fatal(err)
	}
	if _, err := repo.Update(ctx, "x", func(*item) error { return nil }); !errors.Is(err, notFound) {
		t.Fatal(err)
	}
	if err := repo.Create(ctx, "x", &item{1}); err != nil {
		t.Fatal(err)
	}
	if err := repo.Create(ctx, "x", &item{2}); !errors.Is(err, state.ErrConflict) {
		t.Fatalf("second create: %v", err)
	}
	stop := errors.New("stop")
	if _, err := repo.Update(ctx, "x", func(i *item) error { i.N = 9; return stop }); !errors.Is(err, stop) {
		t.Fatal(err)
	}
	if v, _ := repo.Get(ctx, "x"); v.N != 1 {
		t.Fatalf("a failed update wrote: %d", v.N)
	}
	if _, err := repo.UpdateIf(ctx, "x", "stale", func(i *item) error { i.N = 5; return nil }); !errors.Is(err, state.ErrPrecondition) {
		t.Fatalf("stale If-Match: %v", err)
	}
	// transactions are all or nothing
	a, _ := repo.CreateOp("y", &item{1})
	b, _ := repo.CreateOp("x", &item{1})
	if err := kv.Transact(ctx, []state.Op{a, b}); !errors.Is(err, state.ErrConflict) {
		t.Fatal(err)
	}
	if _, err := repo.Get(ctx, "y"); !errors.Is(err, notFound) {
		t.Fatal("half a transaction was applied")
	}
	if err := repo.Delete(ctx, "x"); err != nil || kv.Len() != 0 {
		t.Fatal(err, kv.Len())
	}
}

func TestUpdateUnchangedWritesNothing(t *testing.T) {
	ctx := context.Background()
	kv := state.NewMemory()
	repo := state.Repo[item]{KV: kv, Prefix: "i|"}
	if err := repo.Create(ctx, "a", &item{N: 1}); err != nil {
		t.Fatal(err)
	}
	_, before, _ := kv.Get(ctx, "i|a")
	got, err := repo.UpdateAnnounce(ctx, "a", func(i *item) (*state.Event, error) { return &state.Event{Topic: "x"}, state.Unchanged })
	if err != nil || got.N != 1 {
		t.Fatal(got, err)
	}
	if _, after, _ := kv.Get(ctx, "i|a"); after != before || len(kv.Events) != 0 {
		t.Fatalf("an unchanged update wrote (etag %s→%s) or announced (%v)", before, after, kv.Events)
	}
}

func TestTransactCommitsSeveralKeysOrNone(t *testing.T) {
	ctx := context.Background()
	kv := &racingKV{Memory: state.NewMemory(), races: 1}
	repo := state.Repo[item]{KV: kv, Prefix: "i|"}
	if err := repo.Create(ctx, "a", &item{N: 1}); err != nil {
		t.Fatal(err)
	}
	runs := 0
	err := state.Transact(ctx, kv, func(tx *state.Tx) error {
		runs++
		a, err := repo.Read(ctx, tx, "a")
		if err != nil {
			return err
		}
		if _, err := repo.Read(ctx, tx, "b"); !errors.Is(err, state.ErrNotFound) {
			t.Fatalf("absent key: %v", err)
		}
		b := &item{N: a.N * 10}
		a.N++
		if err := repo.Write(tx, "a", a); err != nil {
			return err
		}
		return repo.Write(tx, "b", b)
	})
	if err != nil || runs != 2 {
		t.Fatalf("err %v after %d runs; want a retry on fresh data", err, runs)
	}
	a, _ := repo.Get(ctx, "a")
	b, _ := repo.Get(ctx, "b")
	if a.N != 101 || b.N != 1000 { // the racer wrote 100 before the first commit
		t.Fatalf("a=%d b=%d", a.N, b.N)
	}
}

func TestTransactCreatesAReadAbsentKeyOnlyIfStillAbsent(t *testing.T) {
	ctx := context.Background()
	kv := state.NewMemory()
	repo := state.Repo[item]{KV: kv, Prefix: "i|"}
	runs := 0
	err := state.Transact(ctx, kv, func(tx *state.Tx) error {
		runs++
		v, err := repo.ReadOrNew(ctx, tx, "x")
		if err != nil {
			return err
		}
		if runs == 1 { // someone creates it between our read and our commit
			if err := repo.Create(ctx, "x", &item{N: 7}); err != nil {
				t.Fatal(err)
			}
		}
		v.N++
		return repo.Write(tx, "x", v)
	})
	if got, _ := repo.Get(ctx, "x"); err != nil || got.N != 8 || runs != 2 {
		t.Fatalf("err %v, runs %d, value %+v: the other writer's value was overwritten", err, runs, got)
	}
}

func TestTransactGivesUpAfterBoundedConflicts(t *testing.T) {
	ctx := context.Background()
	kv := &racingKV{Memory: state.NewMemory(), races: 100}
	repo := state.Repo[item]{KV: kv, Prefix: "i|"}
	if err := repo.Create(ctx, "a", &item{N: 1}); err != nil {
		t.Fatal(err)
	}
	runs := 0
	err := state.Transact(ctx, kv, func(tx *state.Tx) error {
		runs++
		a, err := repo.Read(ctx, tx, "a")
		if err != nil {
			return err
		}
		return repo.Write(tx, "a", a)
	})
	if !errors.Is(err, state.ErrConflict) || runs != state.MaxConflictRetries+1 {
		t.Fatalf("err %v after %d runs", err, runs)
	}
}

func TestAnnouncingTransactionCommitsItsEventOnce(t *testing.T) {
	ctx := context.Background()
	kv := state.NewMemory()
	repo := state.Repo[item]{KV: kv, Prefix: "i|"}
	ev := state.Announce(events.UserDeleted{UserID: "u", DeletedAt: time.Now()})
	err := state.Transact(ctx, kv, func(tx *state.Tx) error {
		tx.Announce(ev)
		_ = repo.Write(tx, "a", &item{N: 1})
		repo.Remove(tx, "gone")
		return repo.Write(tx, "b", &item{N: 2})
	})
	if err != nil || kv.Len() != 2 || len(kv.Events) != 1 || kv.Events[0].Topic != "user.deleted" {
		t.Fatalf("two upserts and a delete: %v, %d keys, events %v", err, kv.Len(), kv.Events)
	}
	kv.FailNext = errors.New("the store refused")
	err = state.Transact(ctx, kv, func(tx *state.Tx) error {
		tx.Announce(ev)
		return repo.Write(tx, "c", &item{N: 3})
	})
	if err == nil || len(kv.Events) != 1 {
		t.Fatalf("a failed transaction announced its event: %v, events %v", err, kv.Events)
	}
}

func TestUpsertCreatesThenUpdates(t *testing.T) {
	ctx := context.Background()
	kv := state.NewMemory()
	repo := state.Repo[item]{KV: kv, Prefix: "i|"}
	for i, wantExists := range []bool{false, true} {
		v, err := repo.Upsert(ctx, "u", func(v *item, exists bool) error {
			if exists != wantExists {
				t.Fatalf("round %d: exists=%v", i, exists)
			}
			v.N++
			return nil
		})
		if err != nil || v.N != i+1 {
			t.Fatal(v, err)
		}
	}
}

func TestRecentKeepsTheLastKeysOnly(t *testing.T) {
	ctx := context.Background()
	r := state.NewRecent(3)
	for _, k := range []string{"a", "b", "c", "a", "d"} {
		if err := state.Set(ctx, r, state.Op{Key: k, Value: []byte("1")}); err != nil {
			t.Fatal(err)
		}
	}
	for k, want := range map[string]bool{"a": false, "b": true, "c": true, "d": true} {
		if _, _, err := r.Get(ctx, k); (err == nil) != want {
			t.Errorf("%s: kept %v, want %v", k, err == nil, want)
		}
	}
}

// ReadMany reads in one round trip and guards what it read: a key changed
// since, or one read as absent and created since, fails the transaction.
func TestReadManyGuardsWhatItRead(t *testing.T) {
	ctx := context.Background()
	kv := state.NewMemory()
	repo := state.Repo[item]{KV: kv, Prefix: "i|"}
	if err := repo.Put(ctx, "a", &item{N: 1}); err != nil {
		t.Fatal(err)
	}
	for _, sneak := range []string{"a", "b"} { // a changed; b created meanwhile
		if err := repo.Delete(ctx, "b"); err != nil {
			t.Fatal(err)
		}
		tx := 0
		err := state.Transact(ctx, kv, func(t_ *state.Tx) error {
			got, err := repo.ReadMany(ctx, t_, []string{"a", "b"})
			if err != nil {
				return err
			}
			if got["a"] == nil || got["a"].N == 0 || (tx == 0 && got["b"] != nil) {
				return errors.New("read the wrong values")
			}
			if tx == 0 { // someone else writes between the read and the commit, once
				if err := repo.Put(ctx, sneak, &item{N: 50}); err != nil {
					return err
				}
			}
			tx++
			for _, id := range []string{"a", "b"} {
				v := got[id]
				if v == nil {
					v = &item{}
				}
				v.N++
				if err := repo.Write(t_, id, v); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil || tx != 2 {
			t.Fatalf("%s: %v after %d tries (the first must conflict and run again)", sneak, err, tx)
		}
	}
	a, _ := repo.Get(ctx, "a")
	b, _ := repo.Get(ctx, "b")
	if a.N != 52 || b.N != 51 {
		t.Fatalf("a=%d b=%d", a.N, b.N)
	}
}

// ShardOf is stored data's layout (playlists' shard lists, notifications'
// follower shards): the mapping must never change.
func TestShardOfIsStable(t *testing.T) {
	for id, want := range map[string]int{"": 5, "a": 12, "01930000-0000-7000-8000-000000000001": 2} {
		if got := state.ShardOf(id, 16); got != want {
			t.Errorf("ShardOf(%q, 16) = %d, want %d", id, got, want)
		}
	}
}
