package token

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"testing"
	"time"
)

func TestSignVerify(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	otherPub, _, _ := ed25519.GenerateKey(rand.Reader)
	now := time.Unix(1_800_000_000, 0)
	c := Claims{Issuer: Issuer, Audience: Audience, Subject: "u", IssuedAt: now.Unix(), NotBefore: now.Unix(), ExpiresAt: now.Add(time.Minute).Unix()}
	tok, err := Sign(c, "k1", key)
	if err != nil {
		t.Fatal(err)
	}
	keys := func(m map[string]ed25519.PublicKey) func(string) (ed25519.PublicKey, bool) {
		return func(k string) (ed25519.PublicKey, bool) { p, ok := m[k]; return p, ok }
	}
	good := keys(map[string]ed25519.PublicKey{"k1": pub})
	if got, err := Verify(tok, good, Issuer, Audience, now, 0); err != nil || got.Subject != "u" {
		t.Fatal(got, err)
	}
	cases := []struct {
		name string
		keys func(string) (ed25519.PublicKey, bool)
		iss  string
		at   time.Time
		want error
	}{
		{"expired", good, Issuer, now.Add(2 * time.Minute), ErrExpired},
		{"not yet", good, Issuer, now.Add(-time.Hour), ErrClaims},
		{"wrong key", keys(map[string]ed25519.PublicKey{"k1": otherPub}), Issuer, now, ErrSignature},
		{"unknown kid", keys(nil), Issuer, now, ErrUnknownKey},
		{"wrong issuer", good, "someone", now, ErrClaims},
	}
	for _, tc := range cases {
		if _, err := Verify(tok, tc.keys, tc.iss, Audience, tc.at, 0); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := Verify(tok+"x", good, Issuer, Audience, now, 0); err == nil {
		t.Error("tampered signature accepted")
	}
	set := JWKS{Keys: []JWK{PublicJWK("k1", pub), {Kty: "RSA", Kid: "r"}}}
	if m := set.Map(); len(m) != 1 || !m["k1"].Equal(pub) {
		t.Fatal(m)
	}
}
