// Package authn verifies access tokens against auth's JWKS, cached and
// refetched when a token names a key the cache does not know (rotation).
package authn

import (
	"context"
	"crypto/ed25519"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/harmonia-music/harmonia/internal/platform/fault"
	"github.com/harmonia-music/harmonia/internal/platform/token"
)

// FetchJWKS loads the current key set.
type FetchJWKS func(ctx context.Context) (token.JWKS, error)

// Verifier checks bearer tokens.
type Verifier struct {
	fetch      FetchJWKS
	now        func() time.Time
	ttl        time.Duration // refetch after this even without unknown kids
	minRefetch time.Duration // at most one refetch per this, so junk kids cannot flood auth
	leeway     time.Duration

	mu        sync.Mutex
	keys      map[string]ed25519.PublicKey
	fetchedAt time.Time
	tried     time.Time

	// verified remembers tokens whose signature was checked, so a client's
	// requests cost one Ed25519 verification per token, not per request.
	// Expiry is checked on every use; the map is dropped when it grows large.
	cmu      sync.RWMutex
	verified map[string]token.Claims
}

const maxVerified = 100_000

// Known reports whether tok was verified already and is still cached, so
// checking it costs no signature verification.
func (v *Verifier) Known(tok string) bool {
	v.cmu.RLock()
	defer v.cmu.RUnlock()
	_, ok := v.verified[tok]
	return ok
}

// NewVerifier returns a verifier that loads keys with fetch.
func NewVerifier(fetch FetchJWKS, now func() time.Time) *Verifier {
	if now == nil {
		now = time.Now
	}
	return &Verifier{fetch: fetch, now: now, ttl: 10 * time.Minute, minRefetch: 5 * time.Second, leeway: 30 * time.Second}
}

// Errors.
var (
	ErrMissing = fault.E(fault.KindUnauthenticated, "token-missing", "this needs an access token: Authorization: Bearer <token>")
	ErrInvalid = fault.E(fault.KindUnauthenticated, "token-invalid", "the access token is not valid")
	ErrExpired = fault.E(fault.KindUnauthenticated, "token-expired", "the access token has expired; refresh it")
	ErrNoKeys  = fault.E(fault.KindUnavailable, "keys-unavailable", "sign-in keys are unavailable right now; try again")
)

// BearerToken extracts the token from an Authorization header value.
func BearerToken(h string) (string, bool) {
	if len(h) < 7 || !strings.EqualFold(h[:7], "bearer ") {
		return "", false
	}
	t := strings.TrimSpace(h[7:])
	return t, t != ""
}

// Verify returns the token's claims.
func (v *Verifier) Verify(ctx context.Context, tok string) (token.Claims, error) {
	v.cmu.RLock()
	c, ok := v.verified[tok]
	v.cmu.RUnlock()
	if ok {
		if v.now().Unix() > c.ExpiresAt+int64(v.leeway.Seconds()) {
			return token.Claims{}, ErrExpired
		}
		return c, nil
	}
	c, err := v.verify(ctx, tok)
	if err == nil {
		v.cmu.Lock()
		if v.verified == nil || len(v.verified) >= maxVerified {
			v.verified = map[string]token.Claims{}
		}
		v.verified[tok] = c
		v.cmu.Unlock()
	}
	return c, err
}

func (v *Verifier) verify(ctx context.Context, tok string) (token.Claims, error) {
	kid, err := token.KeyID(tok)
	if err != nil {
		return token.Claims{}, ErrInvalid
	}
	if _, err := v.key(ctx, kid); err != nil {
		return token.Claims{}, err
	}
	c, err := token.Verify(tok, func(k string) (ed25519.PublicKey, bool) {
		v.mu.Lock()
		defer v.mu.Unlock()
		p, ok := v.keys[k]
		return p, ok
	}, token.Issuer, token.Audience, v.now(), v.leeway)
	switch {
	case err == nil:
		return c, nil
	case errors.Is(err, token.ErrExpired):
		return token.Claims{}, ErrExpired
	default:
		return token.Claims{}, ErrInvalid
	}
}

// key finds kid, refetching the set when kid is unknown or the set is old.
// The fetch runs outside the lock (other requests keep verifying with the
// keys at hand), and at most one fetch starts per minRefetch.
func (v *Verifier) key(ctx context.Context, kid string) (ed25519.PublicKey, error) {
	v.mu.Lock()
	now := v.now()
	p, ok := v.keys[kid]
	fresh := now.Sub(v.fetchedAt) < v.ttl
	if ok && fresh {
		v.mu.Unlock()
		return p, nil
	}
	if now.Sub(v.tried) < v.minRefetch && v.keys != nil {
		v.mu.Unlock()
		if ok {
			return p, nil
		}
		return nil, ErrInvalid
	}
	v.tried = now
	v.mu.Unlock()
	set, err := v.fetch(ctx)
	v.mu.Lock()
	defer v.mu.Unlock()
	if err != nil {
		if ok {
			return p, nil // keep serving known keys while auth is away
		}
		if v.keys == nil {
			return nil, fault.Wrap(fault.KindUnavailable, "keys-unavailable", ErrNoKeys.Detail, err)
		}
		return nil, ErrInvalid
	}
	v.keys, v.fetchedAt = set.Map(), now
	if p, ok := v.keys[kid]; ok {
		return p, nil
	}
	return nil, ErrInvalid
}
