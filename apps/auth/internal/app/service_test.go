package app

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/harmonia-music/harmonia/apps/auth/internal/domain"
	"github.com/harmonia-music/harmonia/internal/platform"
	"github.com/harmonia-music/harmonia/internal/platform/pubsub"
	"github.com/harmonia-music/harmonia/internal/platform/state"
)

type fakeProfiles struct {
	mu      sync.Mutex
	created []NewProfile
	fail    error
}

func (f *fakeProfiles) Create(_ context.Context, p NewProfile) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.created = append(f.created, p)
	return nil
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newService(t *testing.T) (*Service, *state.Memory, *fakeProfiles, *pubsub.Memory, *clock) {
	t.Helper()
	kv, prof, pub := state.NewMemory(), &fakeProfiles{}, &pubsub.Memory{}
	c := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	pol := domain.ThrottlePolicy{MaxFailures: 3, Window: time.Minute, Lockout: 10 * time.Minute}
	s, err := New(Config{AccessTTL: 15 * time.Minute, RefreshTTL: time.Hour, AccountThrottle: pol, AddressThrottle: domain.AddressPolicy{Burst: 5, Refill: 20 * time.Second},
		Argon2: Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1}, AdminEmail: "admin@harmonia.local", AdminPassword: "admin-password"},
		kv, prof, pub, c.now)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Keys.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s, kv, prof, pub, c
}

func reg(email string) RegisterInput {
	by := 1990
	return RegisterInput{Email: email, Password: "a-long-password", DisplayName: "Ana", Country: "PT", BirthYear: &by}
}

func TestRegisterCreatesProfileAndPublishes(t *testing.T) {
	s, _, prof, pub, _ := newService(t)
	ctx := context.Background()
	tk, err := s.Register(ctx, reg(" Ana@Example.com "))
	if err != nil {
		t.Fatal(err)
	}
	if len(prof.created) != 1 || prof.created[0].ID != tk.UserID || prof.created[0].Email != "ana@example.com" || prof.created[0].BirthYear != 1990 {
		t.Fatalf("profile: %+v", prof.created)
	}
	if got := pub.Topics(); len(got) != 1 || got[0] != "user.registered" {
		t.Fatalf("events: %v", got)
	}
	if _, err := s.Register(ctx, reg("ana@example.com")); !errors.Is(err, domain.ErrEmailTaken) {
		t.Fatalf("duplicate: %v", err)
	}
	if _, err := s.Login(ctx, "ANA@example.com", "a-long-password", "10.0.0.1"); err != nil {
		t.Fatal(err)
	}
}

func TestRegisterCompensatesWhenUsersFails(t *testing.T) {
	s, kv, prof, pub, _ := newService(t)
	ctx := context.Background()
	prof.fail = platform.E(platform.KindUnavailable, "down", "users is down")
	_, err := s.Register(ctx, reg("bo@example.com"))
	if platform.StatusOf(err) != 503 {
		t.Fatalf("want 503, got %v", err)
	}
	if n := kv.Len(); n != 1 { // only the signing key set remains
		t.Fatalf("half-registered account left %d keys", n)
	}
	if len(pub.Events) != 0 {
		t.Fatal("published an event for a failed registration")
	}
	if _, err := s.Login(ctx, "bo@example.com", "a-long-password", ""); !errors.Is(err, domain.ErrBadCredentials) {
		t.Fatalf("login after failed registration: %v", err)
	}
	prof.fail = nil
	if _, err := s.Register(ctx, reg("bo@example.com")); err != nil {
		t.Fatalf("retry after compensation: %v", err)
	}
}

func TestRegisterValidatesEveryField(t *testing.T) {
	s, _, _, _, _ := newService(t)
	by := 2024
	_, err := s.Register(context.Background(), RegisterInput{Email: "nope", Password: "short", DisplayName: "", Country: "xx", BirthYear: &by, Phone: "1"})
	var e *platform.Error
	if !errors.As(err, &e) {
		t.Fatal(err)
	}
	var fields []string
	for _, f := range e.Fields {
		fields = append(fields, f.Field)
	}
	if strings.Join(fields, ",") != "email,displayName,country,birthYear,phone,password" {
		t.Fatalf("fields: %v", fields)
	}
}

func TestLoginThrottlesPerAccountAndAddress(t *testing.T) {
	s, _, _, _, c := newService(t)
	ctx := context.Background()
	if _, err := s.Register(ctx, reg("cy@example.com")); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := s.Login(ctx, "cy@example.com", "wrong-password", "10.0.0.9"); !errors.Is(err, domain.ErrBadCredentials) {
			t.Fatal(err)
		}
	}
	_, err := s.Login(ctx, "cy@example.com", "a-long-password", "10.0.0.1")
	if platform.StatusOf(err) != 429 {
		t.Fatalf("locked account: %v", err)
	}
	// the address that guessed has 5-4=1 attempt left, then one per 20 s: it
	// is slowed down, not locked out, and others behind it still sign in
	if _, err := s.Register(ctx, reg("dee@example.com")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Login(ctx, "dee@example.com", "a-long-password", "10.0.0.9"); err != nil {
		t.Fatalf("a listener behind the guessing address: %v", err)
	}
	for i := 0; i < 2; i++ {
		_, _ = s.Login(ctx, "dee@example.com", "wrong-password", "10.0.0.9")
	}
	if _, err := s.Login(ctx, "dee@example.com", "a-long-password", "10.0.0.9"); platform.StatusOf(err) != 429 {
		t.Fatalf("an address past its burst: %v", err)
	}
	c.t = c.t.Add(20 * time.Second)
	if _, err := s.Login(ctx, "dee@example.com", "a-long-password", "10.0.0.9"); err != nil {
		t.Fatalf("20 s later the address has an attempt again: %v", err)
	}
	c.t = c.t.Add(11 * time.Minute)
	if _, err := s.Login(ctx, "cy@example.com", "a-long-password", "10.0.0.1"); err != nil {
		t.Fatalf("after the lockout: %v", err)
	}
}

// Fails on the code before: 200 parallel wrong passwords all read the
// throttle before any failure was recorded, and all were checked.
func TestParallelGuessesGetNoMoreChecksThanTheThrottle(t *testing.T) {
	s, _, _, _, _ := newService(t)
	ctx := context.Background()
	if _, err := s.Register(ctx, reg("eve-target@example.com")); err != nil {
		t.Fatal(err)
	}
	var checks atomic.Int32
	check := s.checkPassword
	s.checkPassword = func(pw, enc string) (bool, error) {
		checks.Add(1)
		return check(pw, enc)
	}
	var wg sync.WaitGroup
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			// many addresses, so only the account's throttle stands in the way
			_, err := s.Login(ctx, "eve-target@example.com", "guess-"+strconv.Itoa(i), "203.0.113."+strconv.Itoa(i%250))
			if err != nil && !errors.Is(err, domain.ErrBadCredentials) && platform.StatusOf(err) != 429 {
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	if n := checks.Load(); n > 3 {
		t.Fatalf("%d password checks for 200 parallel guesses; the throttle allows 3", n)
	}
}

// Several correct sign-ins at once (a double click, a few devices) never
// lock the account: only failures do.
func TestParallelCorrectSignInsDoNotLock(t *testing.T) {
	s, _, _, _, _ := newService(t)
	ctx := context.Background()
	if _, err := s.Register(ctx, reg("busy@example.com")); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 12; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = s.Login(ctx, "busy@example.com", "a-long-password", "")
		}()
	}
	wg.Wait()
	if _, err := s.Login(ctx, "busy@example.com", "a-long-password", ""); err != nil {
		t.Fatalf("after parallel correct sign-ins: %v", err)
	}
}

// A listener whose sign-in was locked by someone guessing still renews.
func TestLockedSignInDoesNotStopBilling(t *testing.T) {
	s, _, _, _, _ := newService(t)
	ctx := context.Background()
	tk, err := s.Register(ctx, reg("victim@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		_, _ = s.Login(ctx, "victim@example.com", "wrong-password", "198.51.100."+strconv.Itoa(i))
	}
	if _, err := s.Login(ctx, "victim@example.com", "a-long-password", "198.51.100.99"); platform.StatusOf(err) != 429 {
		t.Fatalf("not locked: %v", err)
	}
	if err := s.VerifyBilling(ctx, tk.UserID); err != nil {
		t.Fatalf("billing refused for a locked sign-in: %v", err)
	}
}

func TestRefreshRotationAndReuse(t *testing.T) {
	s, _, _, _, c := newService(t)
	ctx := context.Background()
	first, err := s.Register(ctx, reg("di@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	second, err := s.Refresh(ctx, first.RefreshToken)
	if err != nil || second.RefreshToken == first.RefreshToken {
		t.Fatal(err)
	}
	if _, err := s.Refresh(ctx, first.RefreshToken); !errors.Is(err, domain.ErrRefreshReused) {
		t.Fatalf("reuse: %v", err)
	}
	if _, err := s.Refresh(ctx, second.RefreshToken); !errors.Is(err, domain.ErrRefreshInvalid) {
		t.Fatalf("family not revoked: %v", err)
	}
	other, _ := s.Login(ctx, "di@example.com", "a-long-password", "")
	c.t = c.t.Add(2 * time.Hour)
	if _, err := s.Refresh(ctx, other.RefreshToken); !errors.Is(err, domain.ErrRefreshInvalid) {
		t.Fatalf("expired: %v", err)
	}
	if _, err := s.Refresh(ctx, "rt_unknown"); !errors.Is(err, domain.ErrRefreshInvalid) {
		t.Fatal(err)
	}
}

func TestChangeEmailAndDelete(t *testing.T) {
	s, _, _, _, _ := newService(t)
	ctx := context.Background()
	a, _ := s.Register(ctx, reg("ed@example.com"))
	if _, err := s.Register(ctx, reg("fi@example.com")); err != nil {
		t.Fatal(err)
	}
	if err := s.ChangeEmail(ctx, a.UserID, "fi@example.com", 1); !errors.Is(err, domain.ErrEmailTaken) {
		t.Fatalf("taken: %v", err)
	}
	if err := s.ChangeEmail(ctx, a.UserID, "Gus@Example.com", 2); err != nil {
		t.Fatal(err)
	}
	// an older change arriving late is ignored: auth keeps the newest address
	if err := s.ChangeEmail(ctx, a.UserID, "old@example.com", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Login(ctx, "old@example.com", "a-long-password", ""); !errors.Is(err, domain.ErrBadCredentials) {
		t.Fatalf("a stale email change was applied: %v", err)
	}
	if _, err := s.Login(ctx, "gus@example.com", "a-long-password", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Login(ctx, "ed@example.com", "a-long-password", ""); !errors.Is(err, domain.ErrBadCredentials) {
		t.Fatal("old address still signs in")
	}
	if _, err := s.Register(ctx, reg("ed@example.com")); err != nil {
		t.Fatalf("old address not freed: %v", err)
	}
	if err := s.DeleteAccount(ctx, a.UserID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAccount(ctx, a.UserID); err != nil {
		t.Fatal("deleting twice must succeed")
	}
	if _, err := s.Login(ctx, "gus@example.com", "a-long-password", ""); !errors.Is(err, domain.ErrBadCredentials) {
		t.Fatal("deleted account signs in")
	}
	if _, err := s.Refresh(ctx, a.RefreshToken); !errors.Is(err, domain.ErrRefreshInvalid) {
		t.Fatal("deleted account refreshes")
	}
}

func TestKeyRotationKeepsOldKeysVerifying(t *testing.T) {
	s, _, _, _, c := newService(t)
	ctx := context.Background()
	kid1, _, _ := s.Keys.Signer(ctx)
	kid2, err := s.Keys.Rotate(ctx)
	if err != nil || kid2 == kid1 {
		t.Fatal(err)
	}
	if now, _, _ := s.Keys.Signer(ctx); now != kid2 {
		t.Fatal("new key not active")
	}
	if got := s.Keys.JWKS(ctx); len(got.Keys) != 2 {
		t.Fatalf("old key dropped too early: %d", len(got.Keys))
	}
	c.t = c.t.Add(2 * time.Hour) // past AccessTTL + 1h
	if _, err := s.Keys.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	if got := s.Keys.JWKS(ctx); len(got.Keys) != 2 {
		t.Fatalf("expired key kept: %d keys", len(got.Keys))
	}
}

func TestEnsureAdminIsIdempotent(t *testing.T) {
	s, _, prof, _, _ := newService(t)
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		if err := s.EnsureAdmin(ctx); err != nil {
			t.Fatal(err)
		}
	}
	tk, err := s.Login(ctx, "admin@harmonia.local", "admin-password", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(prof.created) != 2 || prof.created[0].ID != tk.UserID {
		t.Fatalf("profiles: %+v", prof.created)
	}
}

func TestPasswordHashRoundTrip(t *testing.T) {
	h, err := HashPassword("correct horse", Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1})
	if err != nil || !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatal(h, err)
	}
	if ok, _ := CheckPassword("correct horse", h); !ok {
		t.Fatal("right password refused")
	}
	if ok, _ := CheckPassword("wrong horse", h); ok {
		t.Fatal("wrong password accepted")
	}
	if _, err := CheckPassword("x", "$bcrypt$..."); err == nil {
		t.Fatal("foreign hash accepted")
	}
}

// Signing-key seeds never reach the state store in plain text: the stored
// set holds AES-GCM ciphertext and the id of the key that sealed it.
func TestSigningKeysAreSealedAtRest(t *testing.T) {
	ctx := context.Background()
	kv := state.NewMemory()
	kek := bytes.Repeat([]byte{7}, 32)
	mk := func(kek []byte, local bool) *Service {
		s, err := New(Config{AccessTTL: time.Minute, RefreshTTL: time.Hour, Argon2: Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1},
			KeyEncryptionKey: kek, Local: local}, kv, &fakeProfiles{}, &pubsub.Memory{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := mk(kek, false)
	if err := s.Keys.Load(ctx); err != nil {
		t.Fatal(err)
	}
	kid, key, err := s.Keys.Signer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seed := key.Seed()
	raw, _, err := kv.Get(ctx, "keys|signing")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(base64.StdEncoding.EncodeToString(seed))) || bytes.Contains(raw, seed) || !bytes.Contains(raw, []byte(`"sealed"`)) {
		t.Fatalf("the stored key set holds the seed: %s", raw)
	}
	// the same key-encryption key opens it (another replica, a restart)
	again := mk(kek, false)
	if err := again.Keys.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if k2, _, _ := again.Keys.Signer(ctx); k2 != kid {
		t.Fatalf("reloaded %s, want %s", k2, kid)
	}
	// rotation stores sealed keys too
	if _, err := again.Keys.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	raw, _, _ = kv.Get(ctx, "keys|signing")
	if bytes.Contains(raw, []byte(`"seed"`)) {
		t.Fatalf("rotation stored a seed: %s", raw)
	}
	// another key-encryption key cannot open it: fail closed, except on a
	// developer's machine, where a new set replaces it
	if err := mk(bytes.Repeat([]byte{8}, 32), false).Keys.Load(ctx); err == nil {
		t.Fatal("opened with the wrong key-encryption key")
	}
	if err := mk(bytes.Repeat([]byte{8}, 32), true).Keys.Load(ctx); err != nil {
		t.Fatal(err)
	}
}

// A set stored in plain text before sealing existed is sealed on load.
func TestPlainKeySetIsSealedOnLoad(t *testing.T) {
	ctx := context.Background()
	kv := state.NewMemory()
	nk, _ := newStoredKey(time.Now())
	legacy, _ := json.Marshal(keySet{Keys: []storedKey{nk}})
	if err := kv.Transact(ctx, []state.Op{{Key: "keys|signing", Value: legacy}}); err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{AccessTTL: time.Minute, RefreshTTL: time.Hour, Argon2: Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1},
		KeyEncryptionKey: bytes.Repeat([]byte{7}, 32)}, kv, &fakeProfiles{}, &pubsub.Memory{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Keys.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if kid, _, _ := s.Keys.Signer(ctx); kid != nk.Kid {
		t.Fatalf("the legacy key was not kept: %s", kid)
	}
	raw, _, _ := kv.Get(ctx, "keys|signing")
	if bytes.Contains(raw, []byte(`"seed"`)) {
		t.Fatalf("still plain: %s", raw)
	}
}

// Two replicas starting on an empty store at once end with one key set.
func TestReplicasCreateOneKeySet(t *testing.T) {
	ctx := context.Background()
	kv := state.NewMemory()
	kek := bytes.Repeat([]byte{9}, 32)
	kids := make([]string, 4)
	var wg sync.WaitGroup
	for i := range kids {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			s, err := New(Config{AccessTTL: time.Minute, RefreshTTL: time.Hour, Argon2: Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1},
				KeyEncryptionKey: kek}, kv, &fakeProfiles{}, &pubsub.Memory{}, nil)
			if err != nil {
				t.Error(err)
				return
			}
			if err := s.Keys.Load(ctx); err != nil {
				t.Error(err)
				return
			}
			kids[i], _, _ = s.Keys.Signer(ctx)
		}(i)
	}
	wg.Wait()
	for _, k := range kids {
		if k == "" || k != kids[0] {
			t.Fatalf("replicas sign with different keys: %v", kids)
		}
	}
}
