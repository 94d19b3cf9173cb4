package app

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/harmonia-music/harmonia/apps/subscriptions/internal/domain"
	"github.com/harmonia-music/harmonia/internal/platform"
	"github.com/harmonia-music/harmonia/internal/platform/state"
)

type fakeWF struct{ started, cancelled []string }

func (f *fakeWF) StartCheckout(_ context.Context, id string) error {
	f.started = append(f.started, id)
	return nil
}

func (f *fakeWF) RaiseCancel(_ context.Context, id string) error {
	f.cancelled = append(f.cancelled, id)
	return nil
}

const (
	owner  = "01930000-0000-7000-8000-0000000000d1"
	member = "01930000-0000-7000-8000-0000000000d2"
	pm     = "01930000-0000-7000-8000-0000000000e1"
)

func TestSubscribeIsIdempotentAndExclusive(t *testing.T) {
	ctx := context.Background()
	kv, wf := state.NewMemory(), &fakeWF{}
	s := New(Config{}, kv, nil, nil)
	s.SetWorkflows(wf)
	if err := s.SeedPlans(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Subscribe(ctx, owner, "", "individual", pm); !errors.Is(err, domain.ErrNoKey) {
		t.Fatal(err)
	}
	if _, err := s.Subscribe(ctx, owner, "k", "free", pm); platform.StatusOf(err) != 400 {
		t.Fatal(err)
	}
	a, err := s.Subscribe(ctx, owner, "k", "family", pm)
	if err != nil || a.Status != domain.Pending {
		t.Fatal(a, err)
	}
	b, _ := s.Subscribe(ctx, owner, "k", "family", pm)
	if b.ID != a.ID {
		t.Fatal("same key, second subscription")
	}
	if _, err := s.Subscribe(ctx, owner, "other", "premium", pm); !errors.Is(err, domain.ErrAlreadyOpen) {
		t.Fatal(err)
	}
	// the workflow may be asked to start again (harmless) but never for another id
	for _, id := range wf.started {
		if id != a.ID {
			t.Fatal(wf.started)
		}
	}
}

func TestEntitlementsAndFamily(t *testing.T) {
	ctx := context.Background()
	kv := state.NewMemory()
	s := New(Config{}, kv, nil, nil)
	s.SetWorkflows(&fakeWF{})
	_ = s.SeedPlans(ctx)
	sub, _ := s.Subscribe(ctx, owner, "k", "family", pm)
	if e, _ := s.Entitlement(ctx, owner); e.FullAccess {
		t.Fatal("pending is not paid")
	}
	if _, err := s.AddMember(ctx, owner, sub.ID, member); !errors.Is(err, domain.ErrNotActive) {
		t.Fatal(err)
	}
	_, _ = s.subs.Update(ctx, sub.ID, func(x *domain.Subscription) error { x.Status = domain.Active; return nil })
	if e, _ := s.Entitlement(ctx, owner); !e.FullAccess || e.PlanID != "family" {
		t.Fatal(e)
	}
	if _, err := s.AddMember(ctx, member, sub.ID, member); !errors.Is(err, domain.ErrNotFound) {
		t.Fatal("a stranger added members")
	}
	if _, err := s.AddMember(ctx, owner, sub.ID, member); err != nil {
		t.Fatal(err)
	}
	if e, _ := s.Entitlement(ctx, member); !e.FullAccess {
		t.Fatal("a family member hears previews")
	}
	if _, err := s.RemoveMember(ctx, owner, sub.ID, member); err != nil {
		t.Fatal(err)
	}
	if e, _ := s.Entitlement(ctx, member); e.FullAccess {
		t.Fatal("a removed member still hears everything")
	}
	for i := 0; i < 5; i++ {
		if _, err := s.AddMember(ctx, owner, sub.ID, "01930000-0000-7000-8000-00000000f00"+string(rune('0'+i))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.AddMember(ctx, owner, sub.ID, member); !errors.Is(err, domain.ErrFamilyFull) {
		t.Fatal(err)
	}
	if _, err := s.Cancel(ctx, owner, sub.ID); err != nil {
		t.Fatal(err)
	}
}

// Many requests with one Idempotency-Key at once: one subscription, and
// every request gets it (none a 409 because it read between two commits).
func TestSubscribeConcurrentlyWithOneKey(t *testing.T) {
	for round := 0; round < 30; round++ {
		ctx := context.Background()
		s := New(Config{}, state.NewMemory(), nil, nil)
		s.SetWorkflows(&lockedWF{})
		if err := s.SeedPlans(ctx); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		ids := make([]string, 8)
		errs := make([]error, 8)
		for i := range ids {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				sub, err := s.Subscribe(ctx, owner, "same-key", "individual", pm)
				errs[i] = err
				if err == nil {
					ids[i] = sub.ID
				}
			}(i)
		}
		wg.Wait()
		for i := range ids {
			if errs[i] != nil || ids[i] != ids[0] {
				t.Fatalf("round %d: request %d got %q, %v (first got %q)", round, i, ids[i], errs[i], ids[0])
			}
		}
	}
}

// lockedWF starts and raises nothing; safe for concurrent use.
type lockedWF struct{}

func (*lockedWF) StartCheckout(context.Context, string) error { return nil }
func (*lockedWF) RaiseCancel(context.Context, string) error   { return nil }
