package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/harmonia-music/harmonia/apps/subscriptions/internal/domain"
	"github.com/harmonia-music/harmonia/internal/platform"
	"github.com/harmonia-music/harmonia/internal/platform/pubsub"
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
	s := New(Config{}, kv, nil, nil, &pubsub.Memory{}, nil)
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

// accountsByEmail is auth's address lookup: the part before @ is the id.
type accountsByEmail map[string]string

func (a accountsByEmail) AccountID(_ context.Context, email string) (string, error) {
	return a[email], nil
}

func familyService(t *testing.T, accounts accountsByEmail) (*Service, *pubsub.Memory, *domain.Subscription) {
	t.Helper()
	ctx := context.Background()
	pub := &pubsub.Memory{}
	s := New(Config{}, state.NewMemory(), nil, accounts, pub, nil)
	s.SetWorkflows(&fakeWF{})
	_ = s.SeedPlans(ctx)
	sub, err := s.Subscribe(ctx, owner, "k", "family", pm)
	if err != nil {
		t.Fatal(err)
	}
	return s, pub, sub
}

func TestFamilyMembersJoinByConsentOnly(t *testing.T) {
	ctx := context.Background()
	const stranger = "01930000-0000-7000-8000-0000000000d9"
	s, pub, sub := familyService(t, accountsByEmail{"kid@example.com": member, "me@example.com": owner, "x@example.com": stranger})
	if e, _ := s.Entitlement(ctx, owner); e.FullAccess {
		t.Fatal("pending is not paid")
	}
	if _, err := s.Invite(ctx, owner, sub.ID, "kid@example.com"); !errors.Is(err, domain.ErrNotActive) {
		t.Fatal(err)
	}
	_, _ = s.subs.Update(ctx, sub.ID, func(x *domain.Subscription) error { x.Status = domain.Active; return nil })
	if _, err := s.Invite(ctx, member, sub.ID, "x@example.com"); !errors.Is(err, domain.ErrNotFound) {
		t.Fatal("a stranger invited members to someone else's plan")
	}
	if _, err := s.Invite(ctx, owner, sub.ID, "me@example.com"); !errors.Is(err, domain.ErrInviteSelf) {
		t.Fatal(err)
	}
	inv, err := s.Invite(ctx, owner, sub.ID, "Kid@Example.com")
	if err != nil || inv.Status != domain.InvitePending || inv.Email != "kid@example.com" {
		t.Fatal(inv, err)
	}
	if got := pub.Topics(); len(got) != 1 || got[0] != "member.invited" {
		t.Fatal(got)
	}
	// invited is not a member: nothing until they accept
	if e, _ := s.Entitlement(ctx, member); e.FullAccess {
		t.Fatal("an invitation alone gave the plan")
	}
	// nobody else can see or accept it
	if l, _ := s.Invitations(ctx, stranger); len(l) != 0 {
		t.Fatal(l)
	}
	if _, err := s.Accept(ctx, stranger, inv.ID); !errors.Is(err, domain.ErrInvitationNotFound) {
		t.Fatalf("someone else accepted: %v", err)
	}
	if l, _ := s.Invitations(ctx, member); len(l) != 1 || l[0].ID != inv.ID {
		t.Fatal(l)
	}
	if _, err := s.Accept(ctx, member, inv.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Accept(ctx, member, inv.ID); !errors.Is(err, domain.ErrInvitationUsed) {
		t.Fatal(err)
	}
	if e, _ := s.Entitlement(ctx, member); !e.FullAccess {
		t.Fatal("an accepted member hears previews")
	}
	// an invitation to an address with no account answers the same, and can never be accepted
	if inv, err := s.Invite(ctx, owner, sub.ID, "nobody@example.com"); err != nil || inv.Status != domain.InvitePending {
		t.Fatal(inv, err)
	}
	// a member leaves
	if err := s.Leave(ctx, member); err != nil {
		t.Fatal(err)
	}
	if e, _ := s.Entitlement(ctx, member); e.FullAccess {
		t.Fatal("a member who left still hears everything")
	}
	if err := s.Leave(ctx, member); !errors.Is(err, domain.ErrNotAMember) {
		t.Fatal(err)
	}
}

// Fails on the code before: any subscription owner deleted any user's
// membership record, stripping their family access.
func TestOwnersCannotStripOtherPlansMembers(t *testing.T) {
	ctx := context.Background()
	s, _, sub := familyService(t, accountsByEmail{"kid@example.com": member})
	_, _ = s.subs.Update(ctx, sub.ID, func(x *domain.Subscription) error { x.Status = domain.Active; return nil })
	inv, _ := s.Invite(ctx, owner, sub.ID, "kid@example.com")
	if _, err := s.Accept(ctx, member, inv.ID); err != nil {
		t.Fatal(err)
	}
	// another listener with a plan of their own "removes" our member
	const other = "01930000-0000-7000-8000-0000000000d7"
	mine, err := s.Subscribe(ctx, other, "k2", "individual", pm)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = s.RemoveMember(ctx, other, mine.ID, member)
	if e, _ := s.Entitlement(ctx, member); !e.FullAccess {
		t.Fatal("another plan's owner stripped our member's access")
	}
	// and the real owner can
	if _, err := s.RemoveMember(ctx, owner, sub.ID, member); err != nil {
		t.Fatal(err)
	}
	if e, _ := s.Entitlement(ctx, member); e.FullAccess {
		t.Fatal("a removed member still hears everything")
	}
}

func TestFamilyRoomIsCheckedAtAcceptance(t *testing.T) {
	ctx := context.Background()
	accounts := accountsByEmail{}
	for i := 0; i < 7; i++ {
		accounts[fmt.Sprintf("m%d@example.com", i)] = fmt.Sprintf("01930000-0000-7000-8000-00000000f00%d", i)
	}
	s, _, sub := familyService(t, accounts)
	_, _ = s.subs.Update(ctx, sub.ID, func(x *domain.Subscription) error { x.Status = domain.Active; return nil })
	var invs []*domain.Invitation
	for i := 0; i < 6; i++ { // five places; six invitations may be out at once
		inv, err := s.Invite(ctx, owner, sub.ID, fmt.Sprintf("m%d@example.com", i))
		if err != nil {
			t.Fatal(err)
		}
		invs = append(invs, inv)
	}
	for i, inv := range invs {
		_, err := s.Accept(ctx, accounts[fmt.Sprintf("m%d@example.com", i)], inv.ID)
		if i < 5 && err != nil || i == 5 && !errors.Is(err, domain.ErrFamilyFull) {
			t.Fatalf("acceptance %d: %v", i+1, err)
		}
	}
	if _, err := s.Invite(ctx, owner, sub.ID, "m6@example.com"); !errors.Is(err, domain.ErrFamilyFull) {
		t.Fatal(err)
	}
}

// Many requests with one Idempotency-Key at once: one subscription, and
// every request gets it (none a 409 because it read between two commits).
func TestSubscribeConcurrentlyWithOneKey(t *testing.T) {
	for round := 0; round < 30; round++ {
		ctx := context.Background()
		s := New(Config{}, state.NewMemory(), nil, nil, &pubsub.Memory{}, nil)
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

// Acceptances at once: the plan's room holds (owner plus 5), and one
// invitation accepted twice at once makes one member.
func TestConcurrentAcceptancesKeepTheRoom(t *testing.T) {
	ctx := context.Background()
	accounts := accountsByEmail{}
	for i := 0; i < 7; i++ {
		accounts[fmt.Sprintf("c%d@example.com", i)] = fmt.Sprintf("01930000-0000-7000-8000-00000000c00%d", i)
	}
	s, _, sub := familyService(t, accounts)
	_, _ = s.subs.Update(ctx, sub.ID, func(x *domain.Subscription) error { x.Status = domain.Active; return nil })
	var invs []*domain.Invitation
	for i := 0; i < 7; i++ {
		inv, err := s.Invite(ctx, owner, sub.ID, fmt.Sprintf("c%d@example.com", i))
		if err != nil {
			t.Fatal(err)
		}
		invs = append(invs, inv)
	}
	var wg sync.WaitGroup
	var ok atomic.Int32
	for i, inv := range invs {
		for twice := 0; twice < 2; twice++ { // each invitee clicks twice
			wg.Add(1)
			go func(user, id string) {
				defer wg.Done()
				if _, err := s.Accept(ctx, user, id); err == nil {
					ok.Add(1)
				}
			}(accounts[fmt.Sprintf("c%d@example.com", i)], inv.ID)
		}
	}
	wg.Wait()
	got, _ := s.subs.Get(ctx, sub.ID)
	if len(got.Members) != 5 || ok.Load() != 5 {
		t.Fatalf("%d members, %d acceptances succeeded; the plan has room for 5", len(got.Members), ok.Load())
	}
	seen := map[string]bool{}
	for _, m := range got.Members {
		if seen[m] {
			t.Fatalf("a member twice: %v", got.Members)
		}
		seen[m] = true
	}
}

// addresses lists the stored keys whose key or value holds one of strs.
func addresses(kv *state.Memory, strs ...string) []string {
	var out []string
	for k, v := range kv.Dump() {
		for _, x := range strs {
			if strings.Contains(k, x) || strings.Contains(string(v), x) {
				out = append(out, k+" ("+x+")")
			}
		}
	}
	return out
}

// user.deleted for a member, then for the owner: the member leaves and the
// invitations that hold their address go; the owner's plan stops renewing
// and the invitations they sent go, while a third listener's invitation
// from another plan stays. A redelivery changes nothing.
func TestDeletedAccountsLeaveFamiliesAndInvitations(t *testing.T) {
	ctx := context.Background()
	const third = "01930000-0000-7000-8000-0000000000d3"
	const owner2 = "01930000-0000-7000-8000-0000000000d4"
	accounts := accountsByEmail{"kid@example.com": member, "third@example.com": third}
	s, _, sub := familyService(t, accounts)
	kv := s.kv.(*state.Memory)
	wf := s.wf.(*fakeWF)
	activate := func(id string) {
		_, _ = s.subs.Update(ctx, id, func(x *domain.Subscription) error { x.Status = domain.Active; return nil })
	}
	activate(sub.ID)
	inv, _ := s.Invite(ctx, owner, sub.ID, "kid@example.com")
	if _, err := s.Accept(ctx, member, inv.ID); err != nil {
		t.Fatal(err)
	}
	for _, e := range []string{"third@example.com", "nobody@example.com"} {
		if _, err := s.Invite(ctx, owner, sub.ID, e); err != nil {
			t.Fatal(err)
		}
	}
	other, err := s.Subscribe(ctx, owner2, "k2", "family", pm)
	if err != nil {
		t.Fatal(err)
	}
	activate(other.ID)
	for _, e := range []string{"kid@example.com", "third@example.com"} {
		if _, err := s.Invite(ctx, owner2, other.ID, e); err != nil {
			t.Fatal(err)
		}
	}

	for range 2 {
		if err := s.ForgetUser(ctx, member); err != nil {
			t.Fatal(err)
		}
	}
	if left := addresses(kv, "kid@example.com", member); len(left) > 0 {
		t.Fatalf("the deleted member is still named: %v", left)
	}
	if e, _ := s.Entitlement(ctx, member); e.FullAccess {
		t.Fatal("a deleted member keeps the plan")
	}
	if l, _ := s.Invitations(ctx, third); len(l) != 2 {
		t.Fatalf("the third listener's invitations: %d, want 2", len(l))
	}

	for range 2 {
		if err := s.ForgetUser(ctx, owner); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := s.subs.Get(ctx, sub.ID); !got.CancelAtPeriodEnd || len(wf.cancelled) != 1 {
		t.Fatalf("the deleted owner's plan still renews: %+v %v", got, wf.cancelled)
	}
	if left := addresses(kv, "nobody@example.com"); len(left) > 0 {
		t.Fatalf("the owner's invitations are still stored: %v", left)
	}
	if l, _ := s.Invitations(ctx, third); len(l) != 1 || l[0].SubscriptionID != other.ID {
		t.Fatalf("the third listener keeps only the other plan's invitation: %+v", l)
	}

	// A checkout under way: the event waits for it to settle.
	const late = "01930000-0000-7000-8000-0000000000d5"
	if _, err := s.Subscribe(ctx, late, "k3", "individual", pm); err != nil {
		t.Fatal(err)
	}
	if err := s.ForgetUser(ctx, late); !errors.Is(err, ErrCheckoutUnderWay) {
		t.Fatal(err)
	}
}
