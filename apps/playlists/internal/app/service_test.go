package app

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/harmonia-music/harmonia/apps/playlists/internal/domain"
	"github.com/harmonia-music/harmonia/internal/platform"
	"github.com/harmonia-music/harmonia/internal/platform/pubsub"
	"github.com/harmonia-music/harmonia/internal/platform/state"
)

type catalogue map[string]bool

func (c catalogue) Exists(_ context.Context, id string) (bool, error) { return c[id], nil }

const (
	t1 = "01930000-0000-7000-8000-000000000001"
	t2 = "01930000-0000-7000-8000-000000000002"
)

func TestPlaylistRules(t *testing.T) {
	ctx := context.Background()
	kv, pub := state.NewMemory(), &pubsub.Memory{}
	s := New(kv, catalogue{t1: true, t2: true}, pub, nil)
	p, err := s.Create(ctx, "ana", "Mix", "", false)
	if err != nil || p.Version != 1 {
		t.Fatal(p, err)
	}
	if _, err := s.AddTrack(ctx, "ana", p.ID, 0, "01930000-0000-7000-8000-0000000000ff", nil); platform.StatusOf(err) != 400 {
		t.Fatalf("unknown track: %v", err)
	}
	if _, err := s.AddTrack(ctx, "bo", p.ID, 0, t1, nil); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("another user's private playlist: %v", err)
	}
	p, err = s.AddTrack(ctx, "ana", p.ID, 1, t1, nil)
	if err != nil || p.Version != 2 {
		t.Fatal(p, err)
	}
	if _, err := s.AddTrack(ctx, "ana", p.ID, 1, t2, nil); !errors.Is(err, domain.ErrStale) {
		t.Fatalf("stale If-Match: %v", err)
	}
	got, _ := s.Get(ctx, "ana", p.ID)
	if len(got.Entries) != 1 {
		t.Fatal("a refused change was applied")
	}
	if err := s.Delete(ctx, "bo", p.ID, 0); !errors.Is(err, domain.ErrNotFound) {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, "ana", "Second", "", true); err != nil {
		t.Fatal(err)
	}
	items, _, _ := s.Mine(ctx, "ana", 0, "")
	if len(items) != 2 || items[0].Name != "Second" {
		t.Fatalf("newest first: %+v", items)
	}
	if err := s.DeleteAllOf(ctx, "ana"); err != nil || kv.Len() != 0 {
		t.Fatal(err, kv.Len())
	}
	if items, _, _ := s.Mine(ctx, "ana", 0, ""); len(items) != 0 {
		t.Fatal(items)
	}
	if n := len(pub.Topics()); n < 5 {
		t.Fatalf("events: %v", pub.Topics())
	}
}

// The export walks every shard and gives the public playlists only, each
// once, across pages; a deleted or private playlist is not in it.
func TestExportPagesThroughPublicPlaylistsOnly(t *testing.T) {
	ctx := context.Background()
	s := New(state.NewMemory(), nil, &pubsub.Memory{}, nil)
	owners := []string{"01930000-0000-7000-8000-000000000e01", "01930000-0000-7000-8000-000000000e02"}
	want := map[string]bool{}
	for i := range 40 {
		p, err := s.Create(ctx, owners[i%2], fmt.Sprintf("list %d", i), "", i%3 != 0)
		if err != nil {
			t.Fatal(err)
		}
		if i%3 != 0 {
			want[p.ID] = true
		}
		if i == 4 {
			if err := s.Delete(ctx, owners[0], p.ID, 0); err != nil {
				t.Fatal(err)
			}
			delete(want, p.ID)
		}
	}
	got := map[string]bool{}
	after := ""
	for pages := 0; ; pages++ {
		items, next, err := s.Export(ctx, 3, after)
		if err != nil || pages > 100 {
			t.Fatal(err, pages)
		}
		for _, p := range items {
			if got[p.ID] || !p.Public {
				t.Fatalf("%s twice or private", p.ID)
			}
			got[p.ID] = true
		}
		if next == "" {
			break
		}
		after = next
	}
	if len(got) != len(want) {
		t.Fatalf("exported %d public playlists, want %d", len(got), len(want))
	}
	for id := range want {
		if !got[id] {
			t.Fatal("missing", id)
		}
	}
}

// Playlists created at once (the shard lists are shared) all reach the
// export: a conflict on a shard is retried, never lost.
func TestConcurrentCreatesAllReachTheExport(t *testing.T) {
	ctx := context.Background()
	s := New(state.NewMemory(), nil, &pubsub.Memory{}, nil)
	var wg sync.WaitGroup
	for i := range 24 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			owner := fmt.Sprintf("01930000-0000-7000-8000-0000000001%02d", i)
			if _, err := s.Create(ctx, owner, fmt.Sprintf("list %d", i), "", true); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	n, after := 0, ""
	for {
		items, next, err := s.Export(ctx, 500, after)
		if err != nil {
			t.Fatal(err)
		}
		n += len(items)
		if after = next; after == "" {
			break
		}
	}
	if n != 24 {
		t.Fatalf("exported %d of 24 playlists created at once", n)
	}
}

// A deleted account's playlists that share a shard list all leave it (one
// transaction read the shard once per playlist and kept only the last change).
func TestDeleteAllOfEmptiesSharedShards(t *testing.T) {
	ctx := context.Background()
	kv := state.NewMemory()
	s := New(kv, nil, &pubsub.Memory{}, nil)
	const owner = "01930000-0000-7000-8000-000000000f01"
	for i := range 40 { // 40 playlists over 16 shards: several share one
		if _, err := s.Create(ctx, owner, fmt.Sprintf("list %d", i), "", true); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteAllOf(ctx, owner); err != nil {
		t.Fatal(err)
	}
	if kv.Len() != 0 {
		t.Fatalf("%d keys left: %v", kv.Len(), kv.Dump())
	}
}
