// Package token signs and verifies Harmonia's access tokens: compact JWS with
// EdDSA (Ed25519) and a key id, and the JWKS that publishes the public keys.
// auth signs; the gateway verifies.
package token

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Claims are the access token's claims.
type Claims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"`
	Audience  string   `json:"aud"`
	IssuedAt  int64    `json:"iat"`
	NotBefore int64    `json:"nbf"`
	ExpiresAt int64    `json:"exp"`
	ID        string   `json:"jti"`
	Roles     []string `json:"roles"`
}

type header struct {
	Alg string `json:"alg"`
	Typ string `json:"typ"`
	Kid string `json:"kid"`
}

var b64 = base64.RawURLEncoding

// Sign returns the compact serialization of claims signed with key.
func Sign(c Claims, kid string, key ed25519.PrivateKey) (string, error) {
	h, err := json.Marshal(header{Alg: "EdDSA", Typ: "JWT", Kid: kid})
	if err != nil {
		return "", err
	}
	p, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	signing := b64.EncodeToString(h) + "." + b64.EncodeToString(p)
	sig := ed25519.Sign(key, []byte(signing))
	return signing + "." + b64.EncodeToString(sig), nil
}

// Errors Verify returns.
var (
	ErrMalformed  = errors.New("malformed token")
	ErrUnknownKey = errors.New("unknown signing key")
	ErrSignature  = errors.New("bad signature")
	ErrExpired    = errors.New("token expired")
	ErrClaims     = errors.New("token claims do not match")
)

// KeyID returns the kid of a token without verifying it.
func KeyID(tok string) (string, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return "", ErrMalformed
	}
	hb, err := b64.DecodeString(parts[0])
	if err != nil {
		return "", ErrMalformed
	}
	var h header
	if json.Unmarshal(hb, &h) != nil {
		return "", ErrMalformed
	}
	if h.Alg != "EdDSA" || h.Kid == "" {
		return "", ErrMalformed
	}
	return h.Kid, nil
}

// Verify checks signature, algorithm, issuer, audience and time (with leeway)
// and returns the claims. keys maps kid to public key.
func Verify(tok string, keys func(kid string) (ed25519.PublicKey, bool), issuer, audience string, now time.Time, leeway time.Duration) (Claims, error) {
	kid, err := KeyID(tok)
	if err != nil {
		return Claims{}, err
	}
	pub, ok := keys(kid)
	if !ok {
		return Claims{}, ErrUnknownKey
	}
	parts := strings.Split(tok, ".")
	sig, err := b64.DecodeString(parts[2])
	if err != nil {
		return Claims{}, ErrMalformed
	}
	if !ed25519.Verify(pub, []byte(parts[0]+"."+parts[1]), sig) {
		return Claims{}, ErrSignature
	}
	pb, err := b64.DecodeString(parts[1])
	if err != nil {
		return Claims{}, ErrMalformed
	}
	var c Claims
	if err := json.Unmarshal(pb, &c); err != nil {
		return Claims{}, ErrMalformed
	}
	if c.Issuer != issuer || c.Audience != audience || c.Subject == "" {
		return Claims{}, ErrClaims
	}
	n := now.Unix()
	if n > c.ExpiresAt+int64(leeway.Seconds()) {
		return Claims{}, ErrExpired
	}
	if n+int64(leeway.Seconds()) < c.NotBefore {
		return Claims{}, fmt.Errorf("%w: not valid yet", ErrClaims)
	}
	return c, nil
}

// JWK is one public key in a JWKS.
type JWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
}

// JWKS is a JSON Web Key Set.
type JWKS struct {
	Keys []JWK `json:"keys"`
}

// PublicJWK describes an Ed25519 public key.
func PublicJWK(kid string, pub ed25519.PublicKey) JWK {
	return JWK{Kty: "OKP", Crv: "Ed25519", X: b64.EncodeToString(pub), Kid: kid, Alg: "EdDSA", Use: "sig"}
}

// Map returns the set's Ed25519 keys by kid.
func (s JWKS) Map() map[string]ed25519.PublicKey {
	out := map[string]ed25519.PublicKey{}
	for _, k := range s.Keys {
		if k.Kty != "OKP" || k.Crv != "Ed25519" {
			continue
		}
		x, err := b64.DecodeString(k.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			continue
		}
		out[k.Kid] = ed25519.PublicKey(x)
	}
	return out
}

// Issuer and Audience of Harmonia's access tokens.
const (
	Issuer   = "harmonia-auth"
	Audience = "harmonia-api"
)
