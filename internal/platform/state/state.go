// Package state is the storage port every app's repositories use: a key-value
// store with ETags (Dapr state in production, a map in unit tests) and a
// generic repository that updates through a callback with optimistic
// concurrency and a bounded number of retries.
package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/harmonia-music/harmonia/internal/events"
	"github.com/harmonia-music/harmonia/internal/platform/fault"
	"github.com/harmonia-music/harmonia/internal/platform/validate"
)

// Errors every KV returns.
var (
	ErrNotFound = fault.E(fault.KindNotFound, "not-found", "no such resource")
	// ErrConflict means the ETag did not match, or an insert found the key taken.
	ErrConflict = fault.E(fault.KindConflict, "conflict", "the resource was changed by someone else")
)

// Op is one write in a transaction.
type Op struct {
	Key        string
	Value      []byte // nil with Delete
	Delete     bool
	ETag       string // when set, the write only succeeds if the stored ETag matches
	InsertOnly bool   // with no ETag: fail if the key exists
	TTLSeconds int
	Metadata   map[string]string
	// Event, when set, is published if and only if this transaction
	// commits (the store's outbox: internal/platform/outbox).
	Event *Event
}

// Event is published on Topic with Data as its JSON payload. Make one
// with Announce, from an event contract.
type Event struct {
	Topic string
	Data  events.Event
}

// Announce is the outbox event for an event contract.
func Announce(e events.Event) *Event { return &Event{Topic: e.Topic(), Data: e} }

// KV is the state store port.
type KV interface {
	Get(ctx context.Context, key string) (value []byte, etag string, err error)
	// GetMany reads keys in one round trip; missing keys are absent from the map.
	GetMany(ctx context.Context, keys []string) (map[string][]byte, error)
	Transact(ctx context.Context, ops []Op) error
}

// Set writes one key.
func Set(ctx context.Context, kv KV, op Op) error { return kv.Transact(ctx, []Op{op}) }

// Repo stores values of T as JSON under prefix+id.
type Repo[T any] struct {
	KV       KV
	Prefix   string
	NotFound error // returned when the id is unknown; ErrNotFound when nil
	Retries  int   // conflicts retried by Update; MaxConflictRetries when zero
	// TTL, when set, makes the store drop a value that long after its last
	// write (for records that must not outlive their use, such as sign-in
	// counters keyed by an address).
	TTL time.Duration
}

func (r Repo[T]) key(id string) string { return r.Prefix + id }

// write is the upsert of id with the repository's TTL.
func (r Repo[T]) write(id string, b []byte) Op {
	op := Op{Key: r.key(id), Value: b}
	if r.TTL > 0 {
		op.TTLSeconds = max(1, int(r.TTL/time.Second))
	}
	return op
}

func (r Repo[T]) notFound() error {
	if r.NotFound != nil {
		return r.NotFound
	}
	return ErrNotFound
}

// Get reads one value.
func (r Repo[T]) Get(ctx context.Context, id string) (*T, error) {
	v, _, err := r.getWithETag(ctx, id)
	return v, err
}

func (r Repo[T]) getWithETag(ctx context.Context, id string) (*T, string, error) {
	raw, etag, err := r.KV.Get(ctx, r.key(id))
	if errors.Is(err, ErrNotFound) {
		return nil, "", r.notFound()
	}
	if err != nil {
		return nil, "", err
	}
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, "", fmt.Errorf("decode %s: %w", r.key(id), err)
	}
	return &v, etag, nil
}

// GetMany reads several values in one round trip, in the order of ids;
// unknown ids are skipped.
func (r Repo[T]) GetMany(ctx context.Context, ids []string) ([]*T, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = r.key(id)
	}
	raw, err := r.KV.GetMany(ctx, keys)
	if err != nil {
		return nil, err
	}
	out := make([]*T, 0, len(ids))
	for _, k := range keys {
		b, ok := raw[k]
		if !ok {
			continue
		}
		var v T
		if err := json.Unmarshal(b, &v); err != nil {
			return nil, fmt.Errorf("decode %s: %w", k, err)
		}
		out = append(out, &v)
	}
	return out, nil
}

// CreateOp is the insert-only write of v, to put in a transaction.
func (r Repo[T]) CreateOp(id string, v *T) (Op, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return Op{}, err
	}
	op := r.write(id, b)
	op.InsertOnly = true
	return op, nil
}

// PutOp is an unconditional write of v.
func (r Repo[T]) PutOp(id string, v *T) (Op, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return Op{}, err
	}
	return r.write(id, b), nil
}

// DeleteOp deletes id.
func (r Repo[T]) DeleteOp(id string) Op { return Op{Key: r.key(id), Delete: true} }

// Create inserts v; ErrConflict when id exists.
func (r Repo[T]) Create(ctx context.Context, id string, v *T) error {
	op, err := r.CreateOp(id, v)
	if err != nil {
		return err
	}
	return r.KV.Transact(ctx, []Op{op})
}

// Put writes v whatever is stored.
func (r Repo[T]) Put(ctx context.Context, id string, v *T) error {
	op, err := r.PutOp(id, v)
	if err != nil {
		return err
	}
	return r.KV.Transact(ctx, []Op{op})
}

// Delete removes id (no error when absent).
func (r Repo[T]) Delete(ctx context.Context, id string) error {
	return r.KV.Transact(ctx, []Op{r.DeleteOp(id)})
}

// Update reads id, applies fn, and writes the result only if nobody wrote in
// between; on a conflict it reads again and retries a bounded number of times.
// fn's error aborts without writing. The ETag never leaves this function.
func (r Repo[T]) Update(ctx context.Context, id string, fn func(*T) error) (*T, error) {
	return r.UpdateIf(ctx, id, "", fn)
}

// UpdateIf is Update with a version the caller expects (an If-Match value the
// client sent); a mismatch is ErrPrecondition, not retried.
func (r Repo[T]) UpdateIf(ctx context.Context, id, ifMatch string, fn func(*T) error) (*T, error) {
	return r.update(ctx, id, ifMatch, func(v *T) (*Event, error) { return nil, fn(v) })
}

// UpdateAnnounce is Update whose callback also returns the event that
// announces the change (or nil); the change and the event commit together.
func (r Repo[T]) UpdateAnnounce(ctx context.Context, id string, fn func(*T) (*Event, error)) (*T, error) {
	return r.update(ctx, id, "", fn)
}

func (r Repo[T]) update(ctx context.Context, id, ifMatch string, fn func(*T) (*Event, error)) (*T, error) {
	retries := r.Retries
	if retries == 0 {
		retries = MaxConflictRetries
	}
	for attempt := 0; ; attempt++ {
		v, etag, err := r.getWithETag(ctx, id)
		if err != nil {
			return nil, err
		}
		if ifMatch != "" && ifMatch != etag {
			return nil, ErrPrecondition
		}
		ev, err := fn(v)
		if errors.Is(err, Unchanged) {
			return v, nil
		}
		if err != nil {
			return nil, err
		}
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		op := r.write(id, b)
		op.ETag, op.Event = etag, ev
		err = r.KV.Transact(ctx, []Op{op})
		switch {
		case err == nil:
			return v, nil
		case errors.Is(err, ErrConflict) && ifMatch != "":
			return nil, ErrPrecondition
		case !errors.Is(err, ErrConflict) || attempt >= retries:
			return nil, err
		}
		if err := ConflictPause(ctx, attempt); err != nil {
			return nil, err
		}
	}
}

// Unchanged, returned by an update callback, leaves the value as stored:
// nothing is written and no event goes out, and the update returns the value
// it read. Idempotent steps use it when a retry finds their work done.
var Unchanged = errors.New("state: unchanged")

// ErrPrecondition is a stale If-Match.
var ErrPrecondition = fault.E(fault.KindPrecondition, "precondition-failed",
	"the resource changed since you read it; read it again and retry")

// GetOwned reads id for userID: a malformed id is a 400 naming the field
// "id", and a value owned by someone else is the repository's NotFound (404,
// so nobody learns that another user's id exists).
func (r Repo[T]) GetOwned(ctx context.Context, id, userID string, owner func(*T) string) (*T, error) {
	if m := validate.ID(id); m != "" {
		return nil, fault.Invalid("id", m)
	}
	v, err := r.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if owner(v) != userID {
		return nil, r.notFound()
	}
	return v, nil
}

// ShardOf spreads ids over n shards by a hash of the id (FNV-1a): services
// keep lists of many ids as several records, so concurrent writers rarely
// touch the same one. The mapping is stored data's layout: never change it.
func ShardOf(id string, n int) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(id))
	return int(h.Sum32() % uint32(n))
}
