// Package app holds auth's use cases.
package app

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/harmonia-music/harmonia/apps/auth/internal/domain"
	"github.com/harmonia-music/harmonia/internal/events"
	"github.com/harmonia-music/harmonia/internal/platform"
	"github.com/harmonia-music/harmonia/internal/platform/audit"
	"github.com/harmonia-music/harmonia/internal/platform/fault"
	"github.com/harmonia-music/harmonia/internal/platform/state"
	"github.com/harmonia-music/harmonia/internal/platform/token"
	"github.com/harmonia-music/harmonia/internal/platform/validate"
)

// NewProfile is what users needs to create a profile at sign-up.
type NewProfile struct {
	ID          string `json:"id"`
	Email       string `json:"email"`
	DisplayName string `json:"displayName"`
	Country     string `json:"country,omitempty"`
	BirthYear   int    `json:"birthYear,omitempty"`
	Phone       string `json:"phone,omitempty"`
}

// Profiles is the users service, as auth needs it.
type Profiles interface {
	Create(ctx context.Context, p NewProfile) error
}

// Publisher publishes events.
type Publisher interface {
	Publish(ctx context.Context, e events.Event) error
}

// Config tunes the service.
type Config struct {
	AccessTTL       time.Duration
	RefreshTTL      time.Duration
	AccountThrottle domain.ThrottlePolicy
	AddressThrottle domain.AddressPolicy
	Argon2          Argon2Params
	AdminEmail      string
	AdminPassword   string
	// SigningSeed, when set, is the signing key from the secret store.
	SigningSeed []byte
	// KeyEncryptionKey seals the signing keys auth keeps in its state store
	// (32 bytes, from the secret store). Without one (a developer's machine
	// only) auth seals with a key of its own that lasts until it restarts.
	KeyEncryptionKey []byte
	// Local: a developer's machine (HARMONIA_LOCAL=1).
	Local bool
}

// Service implements auth's use cases.
type Service struct {
	cfg       Config
	kv        state.KV
	accounts  state.Repo[domain.Account]
	emails    state.Repo[domain.EmailIndex]
	tokens    state.Repo[domain.RefreshToken]
	families  state.Repo[domain.Family]
	throttles state.Repo[domain.Throttle] // per account
	buckets   state.Repo[domain.Bucket]   // per client address
	Keys      *KeyRing
	profiles  Profiles
	pub       Publisher
	// Audit records sign-ins, role changes and key rotations (nil: none).
	Audit     *audit.Recorder
	now       func() time.Time
	dummyHash string
	// checkPassword is CheckPassword (tests count the calls)
	checkPassword func(password, encoded string) (bool, error)
}

// New wires the service on a state store.
func New(cfg Config, kv state.KV, profiles Profiles, pub Publisher, now func() time.Time) (*Service, error) {
	if now == nil {
		now = time.Now
	}
	s := &Service{
		cfg:      cfg,
		kv:       kv,
		accounts: state.Repo[domain.Account]{KV: kv, Prefix: "account|", NotFound: domain.ErrAccountNotFound},
		emails:   state.Repo[domain.EmailIndex]{KV: kv, Prefix: "email|"},
		tokens:   state.Repo[domain.RefreshToken]{KV: kv, Prefix: "refresh|"},
		families: state.Repo[domain.Family]{KV: kv, Prefix: "family|"},
		// Sign-in counters are keyed by an address (email or IP) and expire
		// once they can no longer matter, so no address outlives its use.
		throttles: state.Repo[domain.Throttle]{KV: kv, Prefix: "throttle|",
			TTL: cfg.AccountThrottle.Window + cfg.AccountThrottle.Lockout + time.Minute},
		buckets: state.Repo[domain.Bucket]{KV: kv, Prefix: "throttle|",
			TTL: time.Duration(cfg.AddressThrottle.Burst)*cfg.AddressThrottle.Refill + time.Minute},
		profiles: profiles,
		pub:      pub,
		now:      now,
	}
	kek := cfg.KeyEncryptionKey
	if len(kek) == 0 { // a key of this process's own: what it seals, only it can open
		kek = make([]byte, 32)
		if _, err := rand.Read(kek); err != nil {
			return nil, err
		}
	}
	seal, err := newSealer(kek)
	if err != nil {
		return nil, err
	}
	s.Keys = &KeyRing{repo: state.Repo[keySet]{KV: kv, Prefix: "keys|"}, sealer: seal, local: cfg.Local,
		keepFor: cfg.AccessTTL + time.Hour, now: now}
	if len(cfg.SigningSeed) > 0 {
		k := storedKey{Seed: cfg.SigningSeed, CreatedAt: now()}
		k.Kid = KeyIDFor(ed25519Public(cfg.SigningSeed))
		s.Keys.external = &k
	}
	h, err := HashPassword("not-a-real-password", cfg.Argon2)
	if err != nil {
		return nil, err
	}
	s.dummyHash, s.checkPassword = h, CheckPassword
	return s, nil
}

// Tokens is what sign-up, sign-in and refresh answer.
type Tokens struct {
	UserID       string `json:"userId"`
	AccessToken  string `json:"accessToken"`
	RefreshToken string `json:"refreshToken"`
	TokenType    string `json:"tokenType"`
	ExpiresIn    int    `json:"expiresIn"`
	// RefreshExpiresIn is how long the refresh token lasts, in seconds (a
	// browser's session cookie at the gateway lives as long).
	RefreshExpiresIn int `json:"refreshExpiresIn"`
}

// RegisterInput is a sign-up request.
type RegisterInput struct {
	Email       string `json:"email"`
	Password    string `json:"password"`
	DisplayName string `json:"displayName"`
	Country     string `json:"country"`
	BirthYear   *int   `json:"birthYear"`
	Phone       string `json:"phone"`
}

// Validate checks every field and names each bad one.
func (in RegisterInput) Validate(now time.Time) error {
	var v fault.Validation
	birthYear := 0
	if in.BirthYear != nil {
		birthYear = *in.BirthYear
		if birthYear == 0 { // an explicit 0 is not "not given"
			v.Add("birthYear", "%s", validate.BirthYear(0, now))
		}
	}
	validate.ProfileFields(&v, validate.NormalizeEmail(in.Email), in.DisplayName, in.Country, birthYear, in.Phone, now)
	if m := validate.Password(in.Password); m != "" {
		v.Add("password", "%s", m)
	}
	return v.Err()
}

// Register creates credentials, then the profile in users. If users cannot
// create the profile, the credentials are removed again (compensation) and
// the caller is told to retry: no half-registered account remains.
func (s *Service) Register(ctx context.Context, in RegisterInput) (Tokens, error) {
	now := s.now().UTC()
	if err := in.Validate(now); err != nil {
		return Tokens{}, err
	}
	hash, err := HashPassword(in.Password, s.cfg.Argon2)
	if err != nil {
		return Tokens{}, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return Tokens{}, err
	}
	acc := &domain.Account{ID: id.String(), Email: validate.NormalizeEmail(in.Email), PasswordHash: hash,
		Roles: []string{domain.RoleListener}, CreatedAt: now, UpdatedAt: now}
	if err := s.createAccount(ctx, acc); err != nil {
		return Tokens{}, err
	}
	p := NewProfile{ID: acc.ID, Email: acc.Email, DisplayName: strings.TrimSpace(in.DisplayName), Country: in.Country, Phone: in.Phone}
	if in.BirthYear != nil {
		p.BirthYear = *in.BirthYear
	}
	if err := s.profiles.Create(ctx, p); err != nil {
		if cerr := s.removeAccount(context.WithoutCancel(ctx), acc); cerr != nil {
			platform.Logger(ctx).Error("compensation failed: credentials without profile", slog.String("user_id", acc.ID), slog.String("error", cerr.Error()))
		}
		return Tokens{}, fault.Wrap(fault.KindUnavailable, "registration-unavailable",
			"registration is unavailable right now; nothing was created, try again", err)
	}
	ev := events.UserRegistered{UserID: acc.ID, Country: p.Country, BirthYear: p.BirthYear, RegisteredAt: now}
	if err := s.pub.Publish(ctx, ev); err != nil {
		platform.Logger(ctx).Warn("user.registered not published", slog.String("user_id", acc.ID), slog.String("error", err.Error()))
	}
	s.Audit.Record(ctx, audit.Record{Actor: acc.ID, Action: "auth.registered", Subject: audit.Subject{Type: "user", ID: acc.ID}})
	return s.issue(ctx, acc, "")
}

func (s *Service) createAccount(ctx context.Context, acc *domain.Account) error {
	return state.Transact(ctx, s.kv, func(tx *state.Tx) error {
		if err := s.emailFree(ctx, tx, acc.Email); err != nil {
			return err
		}
		if err := s.emails.Write(tx, acc.Email, &domain.EmailIndex{UserID: acc.ID}); err != nil {
			return err
		}
		return s.accounts.Insert(tx, acc.ID, acc)
	})
}

// emailFree reads the sign-in address's index within tx: taken is an error;
// free, the transaction creates it only if it is still free.
func (s *Service) emailFree(ctx context.Context, tx *state.Tx, email string) error {
	_, err := s.emails.Read(ctx, tx, email)
	switch {
	case err == nil:
		return domain.ErrEmailTaken
	case errors.Is(err, state.ErrNotFound):
		return nil
	}
	return err
}

func (s *Service) removeAccount(ctx context.Context, acc *domain.Account) error {
	return state.Transact(ctx, s.kv, func(tx *state.Tx) error {
		s.emails.Remove(tx, acc.Email)
		s.accounts.Remove(tx, acc.ID)
		s.throttles.Remove(tx, accountThrottle(acc.Email))
		return nil
	})
}

// Login checks the password. The attempt is counted first (per account, and
// per client address), so parallel guesses get no more password checks than
// the throttles allow; a success gives the attempt back.
func (s *Service) Login(ctx context.Context, email, password, clientIP string) (Tokens, error) {
	var v fault.Validation
	email = validate.NormalizeEmail(email)
	v.Check(email != "", "email", "is required")
	v.Check(password != "", "password", "is required")
	if err := v.Err(); err != nil {
		return Tokens{}, err
	}
	if err := s.reserveAttempt(ctx, email, clientIP); err != nil {
		return Tokens{}, err
	}
	acc, err := s.accountByEmail(ctx, email)
	hash := s.dummyHash
	if err == nil {
		hash = acc.PasswordHash
	} else if !errors.Is(err, domain.ErrAccountNotFound) {
		return Tokens{}, err
	}
	ok, herr := s.checkPassword(password, hash)
	if herr != nil {
		return Tokens{}, herr
	}
	if err != nil || !ok {
		s.recordFailure(ctx, email, clientIP)
		// The address tried is never recorded: an unknown one is anonymous.
		rec := audit.Record{Actor: audit.Anonymous, Action: "auth.login.failed", Outcome: audit.Failure,
			Details: map[string]string{"reason": "unknown account"}}
		if err == nil {
			rec.Actor, rec.Subject, rec.Details["reason"] = acc.ID, audit.Subject{Type: "user", ID: acc.ID}, "wrong password"
		}
		s.Audit.Record(ctx, rec)
		return Tokens{}, domain.ErrBadCredentials
	}
	if err := s.releaseAttempt(ctx, email); err != nil {
		platform.Logger(ctx).Warn("could not give back a successful sign-in's attempt", slog.String("error", err.Error()))
	}
	s.Audit.Record(ctx, audit.Record{Actor: acc.ID, Action: "auth.login.succeeded", Subject: audit.Subject{Type: "user", ID: acc.ID}})
	return s.issue(ctx, acc, "")
}

// reserveAttempt reserves one sign-in attempt on the account, or refuses it
// (429 with the wait) while the account is locked, too many of its attempts
// are in flight, or the client address has spent its failures. Under so many
// parallel attempts that the transaction keeps conflicting it refuses too:
// the throttle fails closed.
func (s *Service) reserveAttempt(ctx context.Context, email, clientIP string) error {
	now := s.now()
	if clientIP != "" {
		b, err := s.buckets.Get(ctx, addressThrottle(clientIP))
		switch {
		case err == nil:
			if wait := b.Wait(s.cfg.AddressThrottle, now, true); wait > 0 {
				return domain.ErrThrottled(wait)
			}
		case !errors.Is(err, state.ErrNotFound):
			return err
		}
	}
	var wait time.Duration
	err := state.Transact(ctx, s.kv, func(tx *state.Tx) error {
		t, err := s.throttles.ReadOrNew(ctx, tx, accountThrottle(email))
		if err != nil {
			return err
		}
		if wait = t.Reserve(s.cfg.AccountThrottle, now); wait > 0 {
			return nil
		}
		return s.throttles.Write(tx, accountThrottle(email), t)
	})
	switch {
	case errors.Is(err, state.ErrConflict):
		return domain.ErrThrottled(time.Second) // too many attempts at once
	case err != nil:
		return err
	case wait > 0:
		return domain.ErrThrottled(wait)
	}
	return nil
}

// recordFailure turns the account's reserved attempt into a failure and
// spends one of the client address's attempts.
func (s *Service) recordFailure(ctx context.Context, email, clientIP string) {
	now := s.now()
	log := platform.Logger(ctx)
	if _, err := s.throttles.Upsert(ctx, accountThrottle(email), func(t *domain.Throttle, _ bool) error {
		t.Fail(s.cfg.AccountThrottle, now)
		return nil
	}); err != nil {
		log.Warn("could not record a failed sign-in", slog.String("error", err.Error()))
	}
	if clientIP == "" {
		return
	}
	if _, err := s.buckets.Upsert(ctx, addressThrottle(clientIP), func(b *domain.Bucket, exists bool) error {
		b.Take(s.cfg.AddressThrottle, now, exists)
		return nil
	}); err != nil {
		log.Warn("could not count a failed sign-in against its address", slog.String("error", err.Error()))
	}
}

// releaseAttempt clears the account's count after a success.
func (s *Service) releaseAttempt(ctx context.Context, email string) error {
	return s.throttles.Delete(ctx, accountThrottle(email))
}

func (s *Service) accountByEmail(ctx context.Context, email string) (*domain.Account, error) {
	idx, err := s.emails.Get(ctx, email)
	if errors.Is(err, state.ErrNotFound) {
		return nil, domain.ErrAccountNotFound
	}
	if err != nil {
		return nil, err
	}
	return s.accounts.Get(ctx, idx.UserID)
}

func hashToken(t string) string {
	sum := sha256.Sum256([]byte(t))
	return hex.EncodeToString(sum[:])
}

func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return "rt_" + base64.RawURLEncoding.EncodeToString(b), nil
}

// issue signs an access token and stores a new refresh token, in a new
// family unless familyID continues one.
func (s *Service) issue(ctx context.Context, acc *domain.Account, familyID string) (Tokens, error) {
	now := s.now().UTC()
	kid, key, err := s.Keys.Signer(ctx)
	if err != nil {
		return Tokens{}, err
	}
	jti, _ := uuid.NewV7()
	access, err := token.Sign(token.Claims{Issuer: token.Issuer, Audience: token.Audience, Subject: acc.ID,
		IssuedAt: now.Unix(), NotBefore: now.Unix(), ExpiresAt: now.Add(s.cfg.AccessTTL).Unix(),
		ID: jti.String(), Roles: acc.Roles}, kid, key)
	if err != nil {
		return Tokens{}, err
	}
	refresh, err := s.newRefresh(ctx, acc.ID, familyID, now)
	if err != nil {
		return Tokens{}, err
	}
	return Tokens{UserID: acc.ID, AccessToken: access, RefreshToken: refresh, TokenType: "Bearer",
		ExpiresIn: int(s.cfg.AccessTTL.Seconds()), RefreshExpiresIn: int(s.cfg.RefreshTTL.Seconds())}, nil
}

func (s *Service) newRefresh(ctx context.Context, userID, familyID string, now time.Time) (string, error) {
	rt, err := randomToken()
	if err != nil {
		return "", err
	}
	ttl := int(s.cfg.RefreshTTL.Seconds())
	var ops []state.Op
	if familyID == "" {
		fid, _ := uuid.NewV7()
		familyID = fid.String()
		fo, err := s.families.CreateOp(familyID, &domain.Family{UserID: userID, CreatedAt: now})
		if err != nil {
			return "", err
		}
		fo.TTLSeconds = ttl
		ops = append(ops, fo)
	}
	to, err := s.tokens.CreateOp(hashToken(rt), &domain.RefreshToken{UserID: userID, FamilyID: familyID, ExpiresAt: now.Add(s.cfg.RefreshTTL)})
	if err != nil {
		return "", err
	}
	to.TTLSeconds = ttl
	ops = append(ops, to)
	return rt, s.kv.Transact(ctx, ops)
}

// Refresh exchanges a refresh token for a new pair. A token that was already
// used revokes its whole family: whoever holds the newer token is signed out
// too, because one of the two is a thief.
func (s *Service) Refresh(ctx context.Context, rt string) (Tokens, error) {
	if rt == "" {
		return Tokens{}, fault.Invalid("refreshToken", "is required")
	}
	key := hashToken(rt)
	now := s.now().UTC()
	var familyID string
	var reused bool
	var owner string
	used, err := s.tokens.Update(ctx, key, func(t *domain.RefreshToken) error {
		familyID, owner = t.FamilyID, t.UserID
		fam, err := s.families.Get(ctx, t.FamilyID)
		if err != nil {
			if errors.Is(err, state.ErrNotFound) {
				return domain.ErrRefreshInvalid
			}
			return err
		}
		if err := domain.CheckRefresh(*t, *fam, now); err != nil {
			reused = errors.Is(err, domain.ErrRefreshReused)
			return err
		}
		t.UsedAt = &now
		return nil
	})
	if reused {
		s.revokeFamily(ctx, familyID, now)
		s.Audit.Record(ctx, audit.Record{Actor: owner, Action: "auth.refresh.reused", Outcome: audit.Denied,
			Subject: audit.Subject{Type: "user", ID: owner}})
		return Tokens{}, domain.ErrRefreshReused
	}
	if errors.Is(err, state.ErrNotFound) {
		return Tokens{}, domain.ErrRefreshInvalid
	}
	if err != nil {
		return Tokens{}, err
	}
	acc, err := s.accounts.Get(ctx, used.UserID)
	if errors.Is(err, domain.ErrAccountNotFound) {
		return Tokens{}, domain.ErrRefreshInvalid
	}
	if err != nil {
		return Tokens{}, err
	}
	return s.issue(ctx, acc, used.FamilyID)
}

func (s *Service) revokeFamily(ctx context.Context, familyID string, now time.Time) {
	_, err := s.families.Update(ctx, familyID, func(f *domain.Family) error {
		if f.RevokedAt == nil {
			f.RevokedAt = &now
		}
		return nil
	})
	if err != nil && !errors.Is(err, state.ErrNotFound) {
		platform.Logger(ctx).Error("could not revoke token family", slog.String("family", familyID), slog.String("error", err.Error()))
	}
}

// Logout revokes the session the refresh token belongs to. Unknown tokens
// are accepted silently: logging out twice is not an error.
func (s *Service) Logout(ctx context.Context, rt string) error {
	if rt == "" {
		return fault.Invalid("refreshToken", "is required")
	}
	t, err := s.tokens.Get(ctx, hashToken(rt))
	if errors.Is(err, state.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	s.revokeFamily(ctx, t.FamilyID, s.now().UTC())
	s.Audit.Record(ctx, audit.Record{Actor: t.UserID, Action: "auth.logout", Subject: audit.Subject{Type: "user", ID: t.UserID}})
	return nil
}

// AccountView is an account without its secret.
type AccountView struct {
	ID    string   `json:"id"`
	Email string   `json:"email"`
	Roles []string `json:"roles"`
}

// SetRoles replaces a user's roles (admins only; the handler checks the caller).
func (s *Service) SetRoles(ctx context.Context, userID string, roles []string) (AccountView, error) {
	if m := validate.ID(userID); m != "" {
		return AccountView{}, fault.Invalid("id", m)
	}
	norm, err := domain.NormalizeRoles(roles)
	if err != nil {
		return AccountView{}, err
	}
	var before []string
	acc, err := s.accounts.Update(ctx, userID, func(a *domain.Account) error {
		before = a.Roles
		a.Roles = norm
		a.UpdatedAt = s.now().UTC()
		return nil
	})
	if err != nil {
		return AccountView{}, err
	}
	for _, r := range norm {
		if !slices.Contains(before, r) {
			s.Audit.Record(ctx, audit.Record{Action: "auth.role.granted", Subject: audit.Subject{Type: "user", ID: userID},
				Details: map[string]string{"role": r}})
		}
	}
	for _, r := range before {
		if !slices.Contains(norm, r) {
			s.Audit.Record(ctx, audit.Record{Action: "auth.role.revoked", Subject: audit.Subject{Type: "user", ID: userID},
				Details: map[string]string{"role": r}})
		}
	}
	return AccountView{ID: acc.ID, Email: acc.Email, Roles: acc.Roles}, nil
}

// ChangeEmail moves an account to a new sign-in address, atomically with its
// index, unless a change of a higher version was applied already.
func (s *Service) ChangeEmail(ctx context.Context, userID, email string, version int) error {
	email = validate.NormalizeEmail(email)
	if m := validate.Email(email); m != "" {
		return fault.Invalid("email", m)
	}
	return state.Transact(ctx, s.kv, func(tx *state.Tx) error {
		acc, err := s.accounts.Read(ctx, tx, userID)
		if err != nil || version <= acc.EmailVersion {
			return err // an older change, arriving late
		}
		if acc.Email == email {
			acc.EmailVersion = version
			return s.accounts.Write(tx, userID, acc)
		}
		if err := s.emailFree(ctx, tx, email); err != nil {
			return err
		}
		old := acc.Email
		acc.Email, acc.EmailVersion, acc.UpdatedAt = email, version, s.now().UTC()
		if err := s.emails.Write(tx, email, &domain.EmailIndex{UserID: userID}); err != nil {
			return err
		}
		s.emails.Remove(tx, old)
		s.throttles.Remove(tx, accountThrottle(old)) // the old address is not kept anywhere
		return s.accounts.Write(tx, userID, acc)
	})
}

// DeleteAccount removes credentials; later sign-ins and refreshes fail.
// Deleting an account that is already gone succeeds.
func (s *Service) DeleteAccount(ctx context.Context, userID string) error {
	acc, err := s.accounts.Get(ctx, userID)
	if errors.Is(err, domain.ErrAccountNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return s.removeAccount(ctx, acc)
}

// EnsureAdmin creates the local administrator on first start, then its
// profile in users (retrying until users answers or ctx ends).
// AccountID returns the id of the account signing in with email.
func (s *Service) AccountID(ctx context.Context, email string) (string, error) {
	email = validate.NormalizeEmail(email)
	if m := validate.Email(email); m != "" {
		return "", fault.Invalid("email", m)
	}
	acc, err := s.accountByEmail(ctx, email)
	if err != nil {
		return "", err
	}
	return acc.ID, nil
}

// AdminExists is auth's readiness for sign-ins: the administrator account
// exists (EnsureAdmin creates it in the background at first start), so a
// refused administrator sign-in after readiness means a wrong password.
func (s *Service) AdminExists(ctx context.Context) error {
	_, err := s.accountByEmail(ctx, validate.NormalizeEmail(s.cfg.AdminEmail))
	return err
}

func (s *Service) EnsureAdmin(ctx context.Context) error {
	email := validate.NormalizeEmail(s.cfg.AdminEmail)
	acc, err := s.accountByEmail(ctx, email)
	if errors.Is(err, domain.ErrAccountNotFound) {
		hash, herr := HashPassword(s.cfg.AdminPassword, s.cfg.Argon2)
		if herr != nil {
			return herr
		}
		id, _ := uuid.NewV7()
		now := s.now().UTC()
		acc = &domain.Account{ID: id.String(), Email: email, PasswordHash: hash,
			Roles: []string{domain.RoleAdmin, domain.RoleListener}, CreatedAt: now, UpdatedAt: now}
		err = s.createAccount(ctx, acc)
		if errors.Is(err, domain.ErrEmailTaken) {
			acc, err = s.accountByEmail(ctx, email)
		}
	}
	if err != nil {
		return err
	}
	p := NewProfile{ID: acc.ID, Email: acc.Email, DisplayName: "Harmonia Admin"}
	for delay := 200 * time.Millisecond; ; delay = min(delay*2, 5*time.Second) {
		err := s.profiles.Create(ctx, p)
		if err == nil || fault.KindOfConflict(err) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
	}
}

// ErrNotBillable is returned for accounts that may not be billed.
var ErrNotBillable = fault.E(fault.KindForbidden, "billing-not-verified", "the account may not be billed")

// VerifyBilling checks that the account exists. A sign-in lock is not a
// reason to refuse: anyone can lock a listener's sign-in by guessing, and
// that must not stop their renewals.
func (s *Service) VerifyBilling(ctx context.Context, userID string) error {
	if m := validate.ID(userID); m != "" {
		return fault.Invalid("userId", m)
	}
	_, err := s.accounts.Get(ctx, userID)
	if errors.Is(err, domain.ErrAccountNotFound) {
		return ErrNotBillable
	}
	return err
}

// accountThrottle and addressThrottle are the throttles' ids: failed
// sign-ins counted per account and per client address.
// accountThrottle keys an address's sign-in counter by a hash of it: anyone
// may type any address, and none of them is stored in the clear.
func accountThrottle(email string) string {
	sum := sha256.Sum256([]byte(email))
	return "acct|" + hex.EncodeToString(sum[:16])
}

func addressThrottle(ip string) string { return "addr|" + ip }
