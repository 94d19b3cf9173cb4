// Package domain is the audit log's model: entries chained by SHA-256,
// person identifiers as salted HMACs, and signed checkpoints.
package domain

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// Genesis is the "previous hash" of the first entry ever written.
const Genesis = "0000000000000000000000000000000000000000000000000000000000000000"

// Entry is one stored record of the audit log. Person identifiers (Actor,
// a SubjectID of type "user", details the action's policy marks as people)
// are pseudonyms: HMAC(salt of that person, id).
type Entry struct {
	Seq         int64             `json:"seq"`
	EventID     string            `json:"eventId"`
	At          time.Time         `json:"at"`
	Service     string            `json:"service,omitempty"`
	Actor       string            `json:"actor"`
	Action      string            `json:"action"`
	SubjectType string            `json:"subjectType,omitempty"`
	SubjectID   string            `json:"subjectId,omitempty"`
	Outcome     string            `json:"outcome"`
	RequestID   string            `json:"requestId,omitempty"`
	TraceID     string            `json:"traceId,omitempty"`
	Details     map[string]string `json:"details,omitempty"`
	Prev        string            `json:"prev"`
	Hash        string            `json:"hash"`
}

// ComputeHash is SHA-256 over the entry's canonical JSON without its own
// hash (struct fields in a fixed order, map keys sorted, times in UTC).
func (e Entry) ComputeHash() string {
	e.Hash = ""
	e.At = e.At.UTC()
	b, _ := json.Marshal(e)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Seal sets the entry's place in the chain and its hash.
func (e *Entry) Seal(seq int64, prev string) {
	e.Seq, e.Prev, e.At = seq, prev, e.At.UTC()
	e.Hash = e.ComputeHash()
}

// ID is the entry's public id: its sequence number.
func (e Entry) ID() string { return strconv.FormatInt(e.Seq, 10) }

// Head is the chain's head: the last entry written. Every append replaces
// it under its ETag, so two writers cannot both extend the same head.
type Head struct {
	Seq  int64     `json:"seq"`
	Hash string    `json:"hash"`
	At   time.Time `json:"at"`
	// Forgets counts crypto-shreddings: a forget rewrites the head so every
	// writer's cached salts go stale with its ETag.
	Forgets int64 `json:"forgets,omitempty"`
}

// Checkpoint is a signed statement of the chain's hash at a sequence
// number. Anchor checkpoints also mark where retention purged up to.
type Checkpoint struct {
	Seq       int64     `json:"seq"`
	Hash      string    `json:"hash"`
	At        time.Time `json:"at"`
	KeyID     string    `json:"keyId"`
	Signature string    `json:"signature"`
}

func (c Checkpoint) message() []byte {
	return []byte(fmt.Sprintf("harmonia-audit-checkpoint\n%d\n%s\n%s", c.Seq, c.Hash, c.At.UTC().Format(time.RFC3339Nano)))
}

// Sign signs the checkpoint.
func (c *Checkpoint) Sign(key ed25519.PrivateKey) {
	c.At = c.At.UTC()
	c.KeyID = KeyID(key.Public().(ed25519.PublicKey))
	c.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(key, c.message()))
}

// Verify checks the signature with pub.
func (c Checkpoint) Verify(pub ed25519.PublicKey) bool {
	sig, err := base64.StdEncoding.DecodeString(c.Signature)
	return err == nil && c.KeyID == KeyID(pub) && ed25519.Verify(pub, c.message(), sig)
}

// KeyID names a public key: the first 16 hex digits of its SHA-256.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// Pseudonym is a person's id as entries hold it: HMAC-SHA256 under their
// salt, 32 hex digits, prefixed so it is never mistaken for an id.
func Pseudonym(salt []byte, id string) string {
	m := hmac.New(sha256.New, salt)
	m.Write([]byte(id))
	return "p-" + hex.EncodeToString(m.Sum(nil)[:16])
}

// SaltRef is where a person's salt is kept: HMAC-SHA256 of their id under
// the service's key, so the store's keys do not list the ids either.
func SaltRef(serviceKey []byte, id string) string {
	m := hmac.New(sha256.New, serviceKey)
	m.Write([]byte("salt\x00" + id))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// Salt is a person's salt, or the mark that they were forgotten.
type Salt struct {
	Salt      []byte    `json:"salt,omitempty"`
	Forgotten bool      `json:"forgotten,omitempty"`
	At        time.Time `json:"at"`
}

// Day is an entry's day index key part (UTC).
func Day(t time.Time) string { return t.UTC().Format("2006-01-02") }

// Broken is the first entry that fails verification.
type Broken struct {
	Seq    int64  `json:"seq"`
	ID     string `json:"id"`
	Reason string `json:"reason"`
}

// Check verifies that e follows prev (the expected previous hash) and that
// its stored hash is its content's. It returns the reason, or "".
func Check(e Entry, seq int64, prev string) string {
	switch {
	case e.Seq != seq:
		return fmt.Sprintf("holds sequence number %d where %d belongs", e.Seq, seq)
	case e.Prev != prev:
		return "its previous hash does not match the entry before it"
	case e.ComputeHash() != e.Hash:
		return "its content does not match its hash (edited after it was written)"
	}
	return ""
}
