package app

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/harmonia-music/harmonia/apps/users/internal/domain"
	"github.com/harmonia-music/harmonia/internal/platform"
	"github.com/harmonia-music/harmonia/internal/platform/pubsub"
	"github.com/harmonia-music/harmonia/internal/platform/state"
)

type fakeAccounts struct {
	emails  []string
	deleted []string
	fail    error
	// while set, ChangeEmail says it is waiting (entered) and waits for gate (a slow auth)
	gate, entered chan struct{}
}

func (f *fakeAccounts) ChangeEmail(_ context.Context, _ string, email string, _ int) error {
	if f.gate != nil {
		f.entered <- struct{}{}
		<-f.gate
	}
	if f.fail != nil {
		return f.fail
	}
	f.emails = append(f.emails, email)
	return nil
}

func (f *fakeAccounts) Delete(_ context.Context, id string) error {
	if f.fail != nil {
		return f.fail
	}
	f.deleted = append(f.deleted, id)
	return nil
}

const uid = "01930000-0000-7000-8000-000000000001"

func setup(t *testing.T) (*Service, *state.Memory, *fakeAccounts, *pubsub.Memory) {
	t.Helper()
	kv, acc, pub := state.NewMemory(), &fakeAccounts{}, &pubsub.Memory{}
	s := New(kv, acc, pub, nil)
	if _, err := s.Create(context.Background(), domain.Profile{ID: uid, Email: "a@example.com", DisplayName: "A", Country: "PT", BirthYear: 1990}); err != nil {
		t.Fatal(err)
	}
	return s, kv, acc, pub
}

func patch(t *testing.T, js string) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(js), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestCreateIsIdempotentForTheSameAccount(t *testing.T) {
	s, _, _, _ := setup(t)
	ctx := context.Background()
	if _, err := s.Create(ctx, domain.Profile{ID: uid, Email: "a@example.com", DisplayName: "A"}); err != nil {
		t.Fatalf("a retried create must succeed: %v", err)
	}
	if _, err := s.Create(ctx, domain.Profile{ID: uid, Email: "other@example.com", DisplayName: "B"}); !errors.Is(err, domain.ErrProfileExists) {
		t.Fatalf("a different account under the same id: %v", err)
	}
}

func TestPatchSemantics(t *testing.T) {
	s, _, acc, pub := setup(t)
	ctx := context.Background()
	p, err := s.Patch(ctx, uid, patch(t, `{"displayName":"Ana","country":null,"phone":"+351912345678"}`))
	if err != nil {
		t.Fatal(err)
	}
	if p.DisplayName != "Ana" || p.Country != "" || p.BirthYear != 1990 || p.Phone != "+351912345678" {
		t.Fatalf("%+v", p)
	}
	if len(acc.emails) != 0 {
		t.Fatal("auth called without an email change")
	}
	for _, bad := range []string{`{}`, `{"id":"x"}`, `{"birthYear":"1990"}`, `{"displayName":null}`, `{"country":"Portugal"}`, `{"email":"nope"}`} {
		if _, err := s.Patch(ctx, uid, patch(t, bad)); platform.StatusOf(err) != 400 {
			t.Errorf("%s: %v", bad, err)
		}
	}
	if got := pub.Topics(); len(got) != 1 || got[0] != "user.updated" {
		t.Fatalf("events: %v", got)
	}
}

func TestEmailChangeGoesThroughAuthFirst(t *testing.T) {
	s, _, acc, _ := setup(t)
	ctx := context.Background()
	acc.fail = &platform.UpstreamError{Status: 409, Problem: platform.Problem{Status: 409, Detail: "taken"}}
	if _, err := s.Patch(ctx, uid, patch(t, `{"email":"b@example.com","displayName":"Bee"}`)); platform.StatusOf(err) != 409 {
		t.Fatalf("%v", err)
	}
	p, _ := s.Get(ctx, uid)
	if p.Email != "a@example.com" || p.DisplayName != "A" {
		t.Fatalf("a refused change half-applied: %+v", p)
	}
	acc.fail = nil
	if p, err := s.Patch(ctx, uid, patch(t, `{"email":"B@example.com"}`)); err != nil || p.Email != "b@example.com" || acc.emails[0] != "b@example.com" {
		t.Fatalf("%+v %v %v", p, err, acc.emails)
	}
}

// Fails on the code before: the patch was computed from a profile read
// before auth was called and written over whatever changed meanwhile.
func TestConcurrentPatchesBothSurvive(t *testing.T) {
	s, _, acc, _ := setup(t)
	ctx := context.Background()
	acc.gate, acc.entered = make(chan struct{}), make(chan struct{}, 1)
	done := make(chan error, 1)
	go func() {
		_, err := s.Patch(ctx, uid, patch(t, `{"email":"new@example.com"}`))
		done <- err
	}()
	<-acc.entered // the email change is waiting on auth
	if _, err := s.Patch(ctx, uid, patch(t, `{"phone":"+447700900123"}`)); err != nil {
		t.Fatal(err)
	}
	close(acc.gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	p, _ := s.Get(ctx, uid)
	if p.Email != "new@example.com" || p.Phone != "+447700900123" {
		t.Fatalf("a concurrent change was lost: %+v", p)
	}
}

// A refused email change is undone, but not over someone else's change made
// while auth was deciding.
func TestRefusedEmailChangeUndoesOnlyItsOwnFields(t *testing.T) {
	s, _, acc, _ := setup(t)
	ctx := context.Background()
	acc.gate, acc.entered = make(chan struct{}), make(chan struct{}, 1)
	acc.fail = &platform.UpstreamError{Status: 409, Problem: platform.Problem{Status: 409, Detail: "taken"}}
	done := make(chan error, 1)
	go func() {
		_, err := s.Patch(ctx, uid, patch(t, `{"email":"taken@example.com","displayName":"Bee","country":"ES"}`))
		done <- err
	}()
	<-acc.entered
	if _, err := s.Patch(ctx, uid, patch(t, `{"country":"FR"}`)); err != nil {
		t.Fatal(err)
	}
	close(acc.gate)
	if err := <-done; platform.StatusOf(err) != 409 {
		t.Fatal(err)
	}
	p, _ := s.Get(ctx, uid)
	if p.Email != "a@example.com" || p.DisplayName != "A" || p.Country != "FR" {
		t.Fatalf("undo: %+v", p)
	}
}

func TestDeleteRemovesEverythingOnlyAfterAuth(t *testing.T) {
	s, kv, acc, pub := setup(t)
	ctx := context.Background()
	if err := s.Follow(ctx, uid, "01930000-0000-7000-8000-0000000000a1"); err != nil {
		t.Fatal(err)
	}
	acc.fail = platform.E(platform.KindUnavailable, "down", "auth is down")
	if err := s.Delete(ctx, uid); platform.StatusOf(err) != 503 {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, uid); err != nil {
		t.Fatal("profile deleted although auth still signs the user in")
	}
	acc.fail = nil
	if err := s.Delete(ctx, uid); err != nil {
		t.Fatal(err)
	}
	if kv.Len() != 0 {
		t.Fatalf("%d keys left after deletion", kv.Len())
	}
	if got := pub.Topics(); got[len(got)-1] != "user.deleted" {
		t.Fatal(got)
	}
}

func TestFollowIsIdempotentAndPublishesOnce(t *testing.T) {
	s, _, _, pub := setup(t)
	ctx := context.Background()
	artist := "01930000-0000-7000-8000-0000000000a1"
	for i := 0; i < 3; i++ {
		if err := s.Follow(ctx, uid, artist); err != nil {
			t.Fatal(err)
		}
	}
	ids, _ := s.Following(ctx, uid)
	if len(ids) != 1 || len(pub.Topics()) != 1 {
		t.Fatalf("%v %v", ids, pub.Topics())
	}
	if err := s.Follow(ctx, uid, "nope"); platform.StatusOf(err) != 400 {
		t.Fatal(err)
	}
	if err := s.Unfollow(ctx, uid, artist); err != nil {
		t.Fatal(err)
	}
	if err := s.Unfollow(ctx, uid, artist); err != nil {
		t.Fatal(err)
	}
	if ids, _ := s.Following(ctx, uid); len(ids) != 0 {
		t.Fatal(ids)
	}
}

func TestPreferencesValidation(t *testing.T) {
	s, _, _, _ := setup(t)
	ctx := context.Background()
	p, err := s.Preferences(ctx, uid)
	if err != nil || !p.Notifications.Email || p.Notifications.SMS {
		t.Fatal(p, err)
	}
	many := make([]string, 21)
	for i := range many {
		many[i] = "g"
	}
	if _, err := s.SetPreferences(ctx, uid, domain.Preferences{FavouriteGenres: many}); platform.StatusOf(err) != 400 {
		t.Fatal(err)
	}
	if _, err := s.Preferences(ctx, "01930000-0000-7000-8000-00000000ffff"); platform.StatusOf(err) != 404 {
		t.Fatal(err)
	}
}
