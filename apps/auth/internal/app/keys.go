package app

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/harmonia-music/harmonia/apps/auth/internal/domain"
	"github.com/harmonia-music/harmonia/internal/platform"
	"github.com/harmonia-music/harmonia/internal/platform/state"
	"github.com/harmonia-music/harmonia/internal/platform/token"
)

// storedKey is one signing key. In memory it holds the seed; in auth's
// state store only the sealed seed and the id of the key that sealed it.
type storedKey struct {
	Kid       string     `json:"kid"`
	Seed      []byte     `json:"seed,omitempty"` // never stored (a legacy set may hold it until resealed)
	Sealed    []byte     `json:"sealed,omitempty"`
	KEK       string     `json:"kek,omitempty"`
	CreatedAt time.Time  `json:"createdAt"`
	RetiredAt *time.Time `json:"retiredAt,omitempty"`
}

type keySet struct {
	Keys []storedKey `json:"keys"`
}

const keySetID = "signing"

// KeyRing holds the signing keys. Keys live in the state store, so they
// survive restarts and every auth replica signs with the same one; a key
// provided by the secret store replaces them (then rotation happens there).
type KeyRing struct {
	repo     state.Repo[keySet]
	sealer   *sealer
	local    bool // a stored set sealed under another key may be replaced (a developer's machine)
	external *storedKey
	keepFor  time.Duration // how long a retired key still verifies
	now      func() time.Time

	mu       sync.RWMutex
	active   storedKey
	public   map[string]ed25519.PublicKey
	loadedAt time.Time
}

// KeyIDFor names a key by a hash of its public half.
func KeyIDFor(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return "k-" + hex.EncodeToString(sum[:6])
}

// ParseSeed reads a base64 Ed25519 seed (32 bytes).
func ParseSeed(s string) ([]byte, error) {
	seed, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		seed, err = base64.RawURLEncoding.DecodeString(s)
	}
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, errors.New("signing key must be a base64 32-byte Ed25519 seed")
	}
	return seed, nil
}

func newStoredKey(now time.Time) (storedKey, error) {
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		return storedKey{}, err
	}
	pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
	return storedKey{Kid: KeyIDFor(pub), Seed: seed, CreatedAt: now}, nil
}

// Load reads (or on first start creates) the key set.
func (k *KeyRing) Load(ctx context.Context) error {
	if k.external != nil {
		k.install([]storedKey{*k.external})
		return nil
	}
	var keys []storedKey
	err := state.Transact(ctx, k.repo.KV, func(tx *state.Tx) error {
		set, err := k.repo.Read(ctx, tx, keySetID)
		if err == nil {
			opened, plain, err := k.openAll(set.Keys)
			switch {
			case errors.Is(err, errOtherKEK) && k.local:
				// a developer's stack that lost its key-encryption key: start a new set
			case err != nil:
				return err
			case !plain:
				keys = opened
				return nil
			default: // a set stored before sealing: seal it now
				keys = opened
				return k.write(tx, opened)
			}
		} else if !errors.Is(err, state.ErrNotFound) {
			return err
		}
		nk, err := newStoredKey(k.now())
		if err != nil {
			return err
		}
		keys = []storedKey{nk}
		return k.write(tx, keys) // only if still as read: another replica may win
	})
	if err != nil {
		return fmt.Errorf("signing keys: %w", err)
	}
	k.install(keys)
	return nil
}

// openAll opens every sealed seed; plain reports a seed stored unsealed.
func (k *KeyRing) openAll(stored []storedKey) (keys []storedKey, plain bool, err error) {
	for _, sk := range stored {
		if len(sk.Sealed) == 0 {
			plain = true
		}
		o, err := k.sealer.open(sk)
		if err != nil {
			return nil, false, err
		}
		keys = append(keys, o)
	}
	return keys, plain, nil
}

// write stores keys sealed.
func (k *KeyRing) write(tx *state.Tx, keys []storedKey) error {
	sealed := make([]storedKey, len(keys))
	for i, sk := range keys {
		var err error
		if sealed[i], err = k.sealer.seal(sk); err != nil {
			return err
		}
	}
	return k.repo.Write(tx, keySetID, &keySet{Keys: sealed})
}

func (k *KeyRing) install(keys []storedKey) {
	pub := map[string]ed25519.PublicKey{}
	var active storedKey
	for _, sk := range keys {
		pub[sk.Kid] = ed25519.NewKeyFromSeed(sk.Seed).Public().(ed25519.PublicKey)
		if sk.RetiredAt == nil {
			active = sk
		}
	}
	k.mu.Lock()
	k.active, k.public, k.loadedAt = active, pub, k.now()
	k.mu.Unlock()
}

// refresh reloads the set when it is older than 30 s, so a rotation by one
// replica reaches the others.
func (k *KeyRing) refresh(ctx context.Context) {
	k.mu.RLock()
	stale := k.external == nil && k.now().Sub(k.loadedAt) > 30*time.Second
	k.mu.RUnlock()
	if stale {
		if err := k.Load(ctx); err != nil { // keep serving the keys we have
			platform.Logger(ctx).Warn("could not reload the signing keys", slog.String("error", err.Error()))
		}
	}
}

// Signer returns the active key.
func (k *KeyRing) Signer(ctx context.Context) (string, ed25519.PrivateKey, error) {
	k.refresh(ctx)
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.active.Kid == "" {
		return "", nil, errors.New("no active signing key")
	}
	return k.active.Kid, ed25519.NewKeyFromSeed(k.active.Seed), nil
}

// JWKS publishes every key that may still verify a live token.
func (k *KeyRing) JWKS(ctx context.Context) token.JWKS {
	k.refresh(ctx)
	k.mu.RLock()
	defer k.mu.RUnlock()
	out := token.JWKS{Keys: []token.JWK{}}
	for kid, pub := range k.public {
		out.Keys = append(out.Keys, token.PublicJWK(kid, pub))
	}
	return out
}

// Rotate adds a new active key, retires the old one (it still verifies for
// keepFor) and drops keys retired longer ago than that.
func (k *KeyRing) Rotate(ctx context.Context) (string, error) {
	if k.external != nil {
		return "", domain.ErrKeysManaged
	}
	now := k.now()
	nk, err := newStoredKey(now)
	if err != nil {
		return "", err
	}
	var keys []storedKey
	err = state.Transact(ctx, k.repo.KV, func(tx *state.Tx) error {
		set, err := k.repo.Read(ctx, tx, keySetID)
		if err != nil {
			return err
		}
		opened, _, err := k.openAll(set.Keys)
		if err != nil {
			return err
		}
		keys = nil
		for _, sk := range opened {
			if sk.RetiredAt == nil {
				t := now
				sk.RetiredAt = &t
			}
			if now.Sub(*sk.RetiredAt) <= k.keepFor {
				keys = append(keys, sk)
			}
		}
		keys = append(keys, nk)
		return k.write(tx, keys)
	})
	if err != nil {
		return "", err
	}
	k.install(keys)
	return nk.Kid, nil
}

func ed25519Public(seed []byte) ed25519.PublicKey {
	return ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
}
