package authn

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/harmonia-music/harmonia/internal/platform"
	"github.com/harmonia-music/harmonia/internal/platform/token"
)

func TestVerifierFollowsRotationWithoutFloodingAuth(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	pub1, key1, _ := ed25519.GenerateKey(rand.Reader)
	pub2, key2, _ := ed25519.GenerateKey(rand.Reader)
	set := token.JWKS{Keys: []token.JWK{token.PublicJWK("k1", pub1)}}
	fetches := 0
	var down error
	v := NewVerifier(func(context.Context) (token.JWKS, error) { fetches++; return set, down }, func() time.Time { return now })
	mint := func(kid string, key ed25519.PrivateKey, exp time.Duration) string {
		s, _ := token.Sign(token.Claims{Issuer: token.Issuer, Audience: token.Audience, Subject: "u", NotBefore: now.Unix(),
			ExpiresAt: now.Add(exp).Unix()}, kid, key)
		return s
	}
	ctx := context.Background()
	if _, err := v.Verify(ctx, mint("k1", key1, time.Minute)); err != nil || fetches != 1 {
		t.Fatal(err, fetches)
	}
	if _, err := v.Verify(ctx, mint("k1", key1, time.Minute)); err != nil || fetches != 1 {
		t.Fatal("cached key refetched", err, fetches)
	}
	// auth rotates: the new kid triggers one refetch
	set.Keys = append(set.Keys, token.PublicJWK("k2", pub2))
	now = now.Add(10 * time.Second)
	if _, err := v.Verify(ctx, mint("k2", key2, time.Minute)); err != nil || fetches != 2 {
		t.Fatal(err, fetches)
	}
	// junk kids do not cause a fetch each: at most one per refetch interval
	now = now.Add(6 * time.Second)
	for i := 0; i < 5; i++ {
		if _, err := v.Verify(ctx, mint("junk", key2, time.Minute)); !errors.Is(err, ErrInvalid) {
			t.Fatal(err)
		}
	}
	if fetches != 3 {
		t.Fatalf("junk kids fetched %d times", fetches-2)
	}
	if _, err := v.Verify(ctx, mint("k1", key1, -time.Minute)); !errors.Is(err, ErrExpired) {
		t.Fatal(err)
	}
	// auth away: known keys keep working, once the cache is old
	down = errors.New("auth down")
	now = now.Add(time.Hour)
	if _, err := v.Verify(ctx, mint("k1", key1, time.Minute)); err != nil {
		t.Fatalf("known key refused while auth is away: %v", err)
	}
}

func TestNoKeysAtAllIsUnavailable(t *testing.T) {
	v := NewVerifier(func(context.Context) (token.JWKS, error) { return token.JWKS{}, errors.New("down") }, nil)
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	s, _ := token.Sign(token.Claims{Issuer: token.Issuer, Audience: token.Audience, Subject: "u", ExpiresAt: time.Now().Add(time.Minute).Unix()}, "k", key)
	if _, err := v.Verify(context.Background(), s); platform.StatusOf(err) != 503 {
		t.Fatalf("%v", err)
	}
	if tok, ok := BearerToken("bearer abc"); !ok || tok != "abc" {
		t.Fatal(tok)
	}
	if _, ok := BearerToken("Basic abc"); ok {
		t.Fatal("basic accepted")
	}
}

func TestVerifiedTokensAreCachedUntilTheyExpire(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	fetches := 0
	v := NewVerifier(func(context.Context) (token.JWKS, error) {
		fetches++
		return token.JWKS{Keys: []token.JWK{token.PublicJWK("k", pub)}}, nil
	}, func() time.Time { return now })
	tok, _ := token.Sign(token.Claims{Issuer: token.Issuer, Audience: token.Audience, Subject: "u", ExpiresAt: now.Add(time.Minute).Unix()}, "k", key)
	for i := 0; i < 3; i++ {
		if c, err := v.Verify(context.Background(), tok); err != nil || c.Subject != "u" {
			t.Fatal(c, err)
		}
	}
	if len(v.verified) != 1 {
		t.Fatal("not cached")
	}
	now = now.Add(2 * time.Minute)
	if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrExpired) {
		t.Fatalf("a cached token outlived its expiry: %v", err)
	}
	// a tampered token is a different string: never served from the cache
	if _, err := v.Verify(context.Background(), tok[:len(tok)-2]+"xx"); err == nil {
		t.Fatal("tampered token accepted")
	}
}

// A slow key fetch for an unknown kid does not stop other requests from
// being verified with the keys at hand (the fetch used to run under the lock).
func TestKeyFetchDoesNotBlockOtherVerifications(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	pub1, key1, _ := ed25519.GenerateKey(rand.Reader)
	_, key2, _ := ed25519.GenerateKey(rand.Reader)
	set := token.JWKS{Keys: []token.JWK{token.PublicJWK("k1", pub1)}}
	release, fetching := make(chan struct{}), make(chan struct{}, 1)
	calls := 0
	v := NewVerifier(func(context.Context) (token.JWKS, error) {
		calls++
		if calls > 1 {
			fetching <- struct{}{}
			<-release
		}
		return set, nil
	}, func() time.Time { return now })
	mint := func(kid, sub string, key ed25519.PrivateKey) string {
		s, _ := token.Sign(token.Claims{Issuer: token.Issuer, Audience: token.Audience, Subject: sub, NotBefore: now.Unix(),
			ExpiresAt: now.Add(time.Minute).Unix()}, kid, key)
		return s
	}
	ctx := context.Background()
	if _, err := v.Verify(ctx, mint("k1", "a", key1)); err != nil {
		t.Fatal(err)
	}
	now = now.Add(10 * time.Second)
	go func() { _, _ = v.Verify(ctx, mint("k-new", "b", key2)) }() // unknown kid: fetches, slowly
	<-fetching
	done := make(chan error, 1)
	go func() { _, err := v.Verify(ctx, mint("k1", "c", key1)); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a token with a known key waited for another request's key fetch")
	}
	close(release)
}
