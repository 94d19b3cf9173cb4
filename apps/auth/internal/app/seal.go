package app

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
)

// sealer encrypts signing-key seeds before they reach the state store
// (AES-256-GCM). The key-encryption key comes from the secret store; its id
// is kept beside each ciphertext, so a new key can be rolled in while old
// ciphertexts are still read with the key they name.
type sealer struct {
	id   string
	aead cipher.AEAD
}

// ParseKEK reads a base64 32-byte key-encryption key.
func ParseKEK(s string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(k) != 32 {
		return nil, errors.New("the key-encryption key must be 32 bytes, base64")
	}
	return k, nil
}

func newSealer(kek []byte) (*sealer, error) {
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(kek)
	return &sealer{id: "kek-" + hex.EncodeToString(sum[:4]), aead: aead}, nil
}

// seal fills Sealed and KEK and drops the plain seed (for storing).
func (s *sealer) seal(k storedKey) (storedKey, error) {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return k, err
	}
	k.Sealed = s.aead.Seal(nonce, nonce, k.Seed, []byte(k.Kid))
	k.KEK, k.Seed = s.id, nil
	return k, nil
}

// errOtherKEK: a seed sealed under a key-encryption key this auth lacks.
var errOtherKEK = errors.New("sealed under another key-encryption key")

// open fills Seed from Sealed (a seed stored in plain text before sealing
// existed is returned as it is, to be sealed on the next write).
func (s *sealer) open(k storedKey) (storedKey, error) {
	if len(k.Sealed) == 0 {
		return k, nil
	}
	if k.KEK != s.id {
		return k, fmt.Errorf("key %s: %w %s", k.Kid, errOtherKEK, k.KEK)
	}
	n := s.aead.NonceSize()
	if len(k.Sealed) < n {
		return k, errors.New("sealed seed too short")
	}
	seed, err := s.aead.Open(nil, k.Sealed[:n], k.Sealed[n:], []byte(k.Kid))
	if err != nil {
		return k, fmt.Errorf("key %s: %w", k.Kid, err)
	}
	k.Seed = seed
	return k, nil
}
