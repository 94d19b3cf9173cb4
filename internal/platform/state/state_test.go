package state_test

import (
	"context"
	"errors"
	"testing"

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
