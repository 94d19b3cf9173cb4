package app

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/harmonia-music/harmonia/apps/users/internal/domain"
	"github.com/harmonia-music/harmonia/internal/events"
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

// leftovers lists every stored key or value that still names the user
// (their id aside: the tombstone keeps it), or holds their email or name.
func leftovers(kv *state.Memory, strs ...string) []string {
	var out []string
	for k, v := range kv.Dump() {
		if strings.HasPrefix(k, "deleted|") || strings.HasPrefix(k, "deletions|") {
			continue
		}
		for _, x := range strs {
			if strings.Contains(k, x) || strings.Contains(string(v), x) {
				out = append(out, k)
			}
		}
	}
	return out
}

func TestDeleteRemovesEverythingAndAnnouncesThroughTheOutbox(t *testing.T) {
	s, kv, acc, _ := setup(t)
	ctx := context.Background()
	if err := s.Follow(ctx, uid, "01930000-0000-7000-8000-0000000000a1"); err != nil {
		t.Fatal(err)
	}
	done, err := s.Delete(ctx, uid)
	if err != nil || !done {
		t.Fatal(done, err)
	}
	if left := leftovers(kv, uid, "a@example.com"); len(left) > 0 {
		t.Fatalf("left after deletion: %v", left)
	}
	if len(acc.deleted) != 1 {
		t.Fatal("credentials not deleted", acc.deleted)
	}
	if len(kv.Events) != 1 || kv.Events[0].Topic != "user.deleted" {
		t.Fatalf("user.deleted must commit with the tombstone (outbox): %+v", kv.Events)
	}
	if kv.TTL("deleted|"+uid) == 0 {
		t.Fatal("the tombstone must expire")
	}
	// Again (a client retrying): no second event, no error but not-found.
	if _, err := s.Delete(ctx, uid); platform.StatusOf(err) != 404 {
		t.Fatal(err)
	}
	if len(kv.Events) != 1 {
		t.Fatal("announced twice")
	}
}

// Auth down: the deletion is recorded (202), the profile is gone for every
// reader at once, and FinishDeletions completes it once auth answers.
func TestDeleteWithAuthDownFinishesLater(t *testing.T) {
	s, kv, acc, _ := setup(t)
	ctx := context.Background()
	acc.fail = platform.E(platform.KindUnavailable, "down", "auth is down")
	done, err := s.Delete(ctx, uid)
	if err != nil || done {
		t.Fatal(done, err)
	}
	if _, err := s.Get(ctx, uid); platform.StatusOf(err) != 404 {
		t.Fatal("a profile being deleted must not be served", err)
	}
	if _, err := s.Patch(ctx, uid, patch(t, `{"displayName":"B"}`)); platform.StatusOf(err) != 404 {
		t.Fatal("a profile being deleted must not change", err)
	}
	if n, err := s.FinishDeletions(ctx); n != 0 || err == nil {
		t.Fatal("finished while auth is down", n, err)
	}
	acc.fail = nil
	if n, err := s.FinishDeletions(ctx); n != 1 || err != nil {
		t.Fatal(n, err)
	}
	if left := leftovers(kv, uid, "a@example.com"); len(left) > 0 {
		t.Fatalf("left after deletion: %v", left)
	}
	if n, _ := s.FinishDeletions(ctx); n != 0 {
		t.Fatal("pending list not cleared")
	}
}

// The reconciliation case: users stops after auth deleted the credentials
// and before its own transaction. A new users process (a fresh Service on
// the same store) finishes it: no profile without credentials remains, and
// user.deleted goes out once.
func TestDeletionInterruptedBetweenTheTwoDeletesIsFinishedByANewProcess(t *testing.T) {
	s, kv, acc, _ := setup(t)
	ctx := context.Background()
	crash := errors.New("users stopped")
	s.afterAccountDelete = func(context.Context, string) error { return crash }
	if done, err := s.Delete(ctx, uid); err != nil || done {
		t.Fatal(done, err)
	}
	if len(acc.deleted) != 1 {
		t.Fatal("auth's delete did not run", acc.deleted)
	}
	if _, _, err := kv.Get(ctx, "profile|"+uid); err != nil {
		t.Fatal("the crash must leave the profile (that is the orphan to fix)", err)
	}
	restarted := New(kv, acc, &pubsub.Memory{}, nil)
	if n, err := restarted.FinishDeletions(ctx); n != 1 || err != nil {
		t.Fatal(n, err)
	}
	if left := leftovers(kv, uid, "a@example.com"); len(left) > 0 {
		t.Fatalf("orphans after reconciliation: %v", left)
	}
	if len(kv.Events) != 1 || kv.Events[0].Topic != "user.deleted" {
		t.Fatalf("%+v", kv.Events)
	}
	// A second crash, after the transaction and before the pending entry
	// went: the next run finds the tombstone and announces nothing again.
	s2, kv2, acc2, _ := setup(t)
	if _, err := s2.Delete(ctx, uid); err != nil {
		t.Fatal(err)
	}
	l := domain.Deletions{UserIDs: []string{uid}}
	if err := s2.deletions.Put(ctx, pendingKey, &l); err != nil {
		t.Fatal(err)
	}
	if n, err := New(kv2, acc2, &pubsub.Memory{}, nil).FinishDeletions(ctx); n != 1 || err != nil {
		t.Fatal(n, err)
	}
	if len(kv2.Events) != 1 {
		t.Fatalf("announced again: %+v", kv2.Events)
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

// Two deletions of one account at once (a double click, a client retry):
// both succeed or find it gone, and user.deleted is committed once.
func TestTwoDeletionsAtOnceAnnounceOnce(t *testing.T) {
	s, kv, _, _ := setup(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.Delete(ctx, uid); err != nil && platform.StatusOf(err) != 404 {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if len(kv.Events) != 1 {
		t.Fatalf("user.deleted committed %d times", len(kv.Events))
	}
	if left := leftovers(kv, uid, "a@example.com"); len(left) > 0 {
		t.Fatalf("left: %v", left)
	}
}

// Contacts answers for the listeners users knows (not the unknown, not an
// account being deleted), with their channel choices or the defaults, and
// refuses a bad or too long list naming the field.
func TestContacts(t *testing.T) {
	s, _, _, _ := setup(t)
	ctx := context.Background()
	const second, gone = "01930000-0000-7000-8000-000000000002", "01930000-0000-7000-8000-000000000003"
	for _, id := range []string{second, gone} {
		if _, err := s.Create(ctx, domain.Profile{ID: id, Email: id[30:] + "@example.com", DisplayName: "X"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.SetPreferences(ctx, second, domain.Preferences{FavouriteGenres: []string{}, MarketingOptIn: true,
		Notifications: domain.Channels{SMS: true}}); err != nil {
		t.Fatal(err)
	}
	s.accounts.(*fakeAccounts).fail = errors.New("auth down") // the deletion begins and stops half way
	if _, err := s.Delete(ctx, gone); err != nil {
		t.Fatal(err)
	}
	got, err := s.Contacts(ctx, []string{uid, second, gone, "01930000-0000-7000-8000-0000000000ff"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].UserID != uid || got[0].Email != "a@example.com" || !got[0].Channels.Email || got[0].MarketingOptIn ||
		got[1].UserID != second || got[1].Channels.Email || !got[1].Channels.SMS || !got[1].MarketingOptIn {
		t.Fatalf("contacts %+v", got)
	}
	if _, err := s.Contacts(ctx, []string{uid, "not an id"}); err == nil || !strings.Contains(fieldOf(err), "userIds[1]") {
		t.Fatalf("a bad id: %v", err)
	}
	if _, err := s.Contacts(ctx, make([]string, 201)); err == nil || fieldOf(err) != "userIds" {
		t.Fatalf("too many: %v", err)
	}
}

func fieldOf(err error) string {
	var e *platform.Error
	if errors.As(err, &e) && len(e.Fields) > 0 {
		return e.Fields[0].Field
	}
	return ""
}

// The unsubscribe link turns marketing off once: user.updated says so the
// first time, a second click changes and announces nothing, and other
// preferences stay.
func TestOptOutOfMarketing(t *testing.T) {
	s, _, _, pub := setup(t)
	ctx := context.Background()
	if _, err := s.SetPreferences(ctx, uid, domain.Preferences{FavouriteGenres: []string{"jazz"}, MarketingOptIn: true,
		Notifications: domain.Channels{Email: true, SMS: true}}); err != nil {
		t.Fatal(err)
	}
	before := len(pub.Events)
	for range 2 {
		if err := s.OptOutOfMarketing(ctx, uid); err != nil {
			t.Fatal(err)
		}
	}
	p, _ := s.Preferences(ctx, uid)
	if p.MarketingOptIn || !p.Notifications.SMS || len(p.FavouriteGenres) != 1 {
		t.Fatalf("after opting out: %+v", p)
	}
	if n := len(pub.Events) - before; n != 1 {
		t.Fatalf("%d user.updated events for two clicks, want 1", n)
	}
	if u, ok := pub.Events[len(pub.Events)-1].Data.(events.UserUpdated); !ok || u.MarketingOptIn == nil || *u.MarketingOptIn {
		t.Fatalf("event %+v", pub.Events[len(pub.Events)-1])
	}
	if err := s.OptOutOfMarketing(ctx, "01930000-0000-7000-8000-0000000000ff"); !errors.Is(err, domain.ErrProfileNotFound) {
		t.Fatalf("an unknown listener: %v", err)
	}
}

// Unfollowing announces artist.unfollowed only when something changed.
func TestUnfollowAnnouncesOnce(t *testing.T) {
	s, _, _, pub := setup(t)
	ctx := context.Background()
	const artist = "01930000-0000-7000-8000-0000000000a1"
	if err := s.Follow(ctx, uid, artist); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := s.Unfollow(ctx, uid, artist); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	for _, topic := range pub.Topics() {
		if topic == events.TopicArtistUnfollowed {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d artist.unfollowed for one unfollow done twice", n)
	}
}
