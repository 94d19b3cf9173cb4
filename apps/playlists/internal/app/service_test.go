package app

import (
	"context"
	"errors"
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
