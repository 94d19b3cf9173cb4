// Package domain holds auth's rules: accounts and roles, refresh-token
// families with reuse detection, and sign-in throttling. It knows nothing of
// HTTP, Dapr or metrics.
package domain

import (
	"slices"
	"time"

	"github.com/harmonia-music/harmonia/internal/platform/fault"
)

// Roles.
const (
	RoleListener = "listener"
	RoleArtist   = "artist"
	RoleAdmin    = "admin"
)

// AllRoles lists the roles an account may hold.
var AllRoles = []string{RoleListener, RoleArtist, RoleAdmin}

// Account is a set of credentials.
type Account struct {
	ID           string   `json:"id"`
	Email        string   `json:"email"`
	PasswordHash string   `json:"passwordHash"`
	Roles        []string `json:"roles"`
	// EmailVersion is the version of the last email change applied (users
	// numbers them), so an older change arriving late is ignored.
	EmailVersion int       `json:"emailVersion,omitempty"`
	CreatedAt    time.Time `json:"createdAt"`
	UpdatedAt    time.Time `json:"updatedAt"`
}

// EmailIndex maps a normalised email to its account.
type EmailIndex struct {
	UserID string `json:"userId"`
}

// Errors.
var (
	ErrEmailTaken     = fault.E(fault.KindConflict, "email-taken", "an account with this email already exists")
	ErrBadCredentials = fault.E(fault.KindUnauthenticated, "bad-credentials", "the email or password is wrong")
	ErrRefreshInvalid = fault.E(fault.KindUnauthenticated, "refresh-invalid", "the refresh token is not valid; sign in again")
	ErrRefreshReused  = fault.E(fault.KindUnauthenticated, "refresh-reused",
		"this refresh token was already used; the session is revoked for safety, sign in again")
	ErrAccountNotFound = fault.E(fault.KindNotFound, "account-not-found", "no such account")
	ErrKeysManaged     = fault.E(fault.KindConflict, "keys-managed-externally",
		"the signing key comes from the secret store; rotate it there")
)

// NormalizeRoles validates roles and returns them sorted without duplicates.
func NormalizeRoles(roles []string) ([]string, error) {
	if len(roles) == 0 {
		return nil, fault.Invalid("roles", "must list at least one role")
	}
	out := make([]string, 0, len(roles))
	for _, r := range roles {
		if !slices.Contains(AllRoles, r) {
			return nil, fault.Invalid("roles", "unknown role "+quote(r)+"; roles are listener, artist, admin")
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	slices.Sort(out)
	return out, nil
}

func quote(s string) string {
	if len(s) > 40 {
		s = s[:40]
	}
	return `"` + s + `"`
}

// RefreshToken is the stored side of one refresh token (stored by its hash).
type RefreshToken struct {
	UserID    string     `json:"userId"`
	FamilyID  string     `json:"familyId"`
	ExpiresAt time.Time  `json:"expiresAt"`
	UsedAt    *time.Time `json:"usedAt,omitempty"`
}

// Family is one chain of rotated refresh tokens: one sign-in session.
type Family struct {
	UserID    string     `json:"userId"`
	CreatedAt time.Time  `json:"createdAt"`
	RevokedAt *time.Time `json:"revokedAt,omitempty"`
}

// CheckRefresh decides whether a presented refresh token may be exchanged.
// A used token means someone replays it: the whole family must be revoked.
func CheckRefresh(t RefreshToken, f Family, now time.Time) error {
	switch {
	case f.RevokedAt != nil:
		return ErrRefreshInvalid
	case t.UsedAt != nil:
		return ErrRefreshReused
	case !now.Before(t.ExpiresAt):
		return ErrRefreshInvalid
	}
	return nil
}

// ThrottlePolicy bounds sign-in attempts on one account.
type ThrottlePolicy struct {
	MaxFailures int
	Window      time.Duration
	Lockout     time.Duration
}

// Throttle counts one account's failed sign-ins, and the attempts whose
// password is being checked right now. An attempt is reserved before its
// check, so parallel guesses get no more checks than the policy allows; only
// failures lock the account (parallel correct sign-ins never do).
type Throttle struct {
	Failures    int       `json:"failures"`
	WindowStart time.Time `json:"windowStart"`
	LockedUntil time.Time `json:"lockedUntil"`
	Pending     int       `json:"pending,omitempty"`
	PendingAt   time.Time `json:"pendingAt,omitempty"`
}

// pendingFor is how long an attempt stays reserved without an outcome (a
// crash between the reservation and the check frees it after this).
const pendingFor = 30 * time.Second

// busyWait is what an attempt refused because too many are in flight waits.
const busyWait = time.Second

// Locked returns how long the account stays locked, or 0.
func (t Throttle) Locked(now time.Time) time.Duration {
	if now.Before(t.LockedUntil) {
		return t.LockedUntil.Sub(now)
	}
	return 0
}

// Reserve takes one attempt, or refuses it and says how long to wait:
// failures plus attempts in flight never exceed MaxFailures.
func (t *Throttle) Reserve(p ThrottlePolicy, now time.Time) time.Duration {
	if wait := t.Locked(now); wait > 0 {
		return wait
	}
	if now.Sub(t.WindowStart) > p.Window {
		t.Failures, t.WindowStart = 0, now
	}
	if now.Sub(t.PendingAt) > pendingFor {
		t.Pending = 0
	}
	if t.Failures+t.Pending >= p.MaxFailures {
		return busyWait
	}
	t.Pending++
	t.PendingAt = now
	return 0
}

// Fail records a reserved attempt's failure; reaching MaxFailures in the
// window locks the account for Lockout.
func (t *Throttle) Fail(p ThrottlePolicy, now time.Time) {
	if t.Pending > 0 {
		t.Pending--
	}
	if now.Sub(t.WindowStart) > p.Window {
		t.Failures, t.WindowStart = 0, now
	}
	t.Failures++
	if t.Failures >= p.MaxFailures {
		t.LockedUntil, t.Failures, t.WindowStart = now.Add(p.Lockout), 0, now
	}
}

// AddressPolicy slows one client address down instead of locking it (one
// address may be a whole NAT or ingress): Burst attempts at once, then one
// per Refill.
type AddressPolicy struct {
	Burst  int
	Refill time.Duration
}

// Bucket holds an address's attempts left (a token bucket).
type Bucket struct {
	Tokens float64   `json:"tokens"`
	At     time.Time `json:"at"`
}

// refill brings the bucket up to now. A bucket never used before (exists
// false) starts full.
func (b *Bucket) refill(p AddressPolicy, now time.Time, exists bool) {
	if !exists {
		b.Tokens, b.At = float64(p.Burst), now
	}
	if elapsed := now.Sub(b.At); elapsed > 0 && p.Refill > 0 {
		b.Tokens = min(float64(p.Burst), b.Tokens+float64(elapsed)/float64(p.Refill))
	}
	b.At = now
}

// Wait says how long the address waits for its next attempt (0: none).
// It changes nothing: a sign-in only reads the bucket.
func (b Bucket) Wait(p AddressPolicy, now time.Time, exists bool) time.Duration {
	b.refill(p, now, exists)
	if b.Tokens < 1 {
		return time.Duration((1 - b.Tokens) * float64(p.Refill))
	}
	return 0
}

// Take spends one attempt for a failed sign-in. Only failures write the
// bucket, so the sign-ins of many listeners behind one address (a NAT, an
// ingress) never contend for it.
func (b *Bucket) Take(p AddressPolicy, now time.Time, exists bool) {
	b.refill(p, now, exists)
	b.Tokens = max(0, b.Tokens-1)
}

// ErrThrottled is returned while a key is locked.
func ErrThrottled(wait time.Duration) error {
	secs := int(wait.Seconds() + 0.999)
	if secs < 1 {
		secs = 1
	}
	return &fault.Error{Kind: fault.KindTooMany, Code: "too-many-sign-in-failures",
		Detail: "too many failed sign-ins; wait before trying again", RetryAfter: secs}
}
