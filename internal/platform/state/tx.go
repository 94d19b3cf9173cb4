package state

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// MaxConflictRetries bounds how often Update, Upsert and Transact read again
// and retry after a conflict (someone else wrote in between).
const MaxConflictRetries = 8

// ConflictPause waits before retry number attempt+1 after a conflict: a
// random time up to 2 ms doubled per attempt (capped at 64 ms). Writers that
// collided and retried at once would mostly collide again; on PostgreSQL,
// where a large transaction holds its rows for milliseconds, four seeders
// importing into one catalogue index ran out of immediate retries.
func ConflictPause(ctx context.Context, attempt int) error {
	limit := 2 * time.Millisecond << min(attempt, 5)
	var b [8]byte
	_, _ = rand.Read(b[:])
	d := time.Duration(binary.LittleEndian.Uint64(b[:]) % uint64(limit))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Tx is a change of several keys that commits in one transaction: every key
// it read is written (or deleted) only if nobody changed it since, a key it
// read as absent is only created if it is still absent, and a key it never
// read is written as it is. Build one with Transact; ETags never leave it.
//
// A Tx may announce one event (Announce): it commits with the change, through
// the store's outbox (internal/platform/outbox), whatever the Tx writes.
type Tx struct {
	kv    KV
	etags map[string]string // key → ETag read; "" when read as absent
	ops   []Op
	index map[string]int // key → position in ops
	event *Event
}

// Transact runs fn with a fresh Tx and commits what it staged in one
// transaction. On a conflict it runs fn again on fresh reads, at most
// MaxConflictRetries more times; fn's own error aborts without writing.
func Transact(ctx context.Context, kv KV, fn func(tx *Tx) error) error {
	for attempt := 0; ; attempt++ {
		tx := &Tx{kv: kv, etags: map[string]string{}, index: map[string]int{}}
		if err := fn(tx); err != nil {
			return err
		}
		err := tx.commit(ctx)
		if err == nil || !errors.Is(err, ErrConflict) || attempt >= MaxConflictRetries {
			return err
		}
		if err := ConflictPause(ctx, attempt); err != nil {
			return err
		}
	}
}

func (tx *Tx) commit(ctx context.Context) error {
	if len(tx.ops) == 0 {
		return nil
	}
	if tx.event != nil { // the event commits once, with the first op
		for i := range tx.ops {
			tx.ops[i].Event = nil
		}
		tx.ops[0].Event = tx.event
	}
	return tx.kv.Transact(ctx, tx.ops)
}

// get reads key into v and remembers its ETag; found is false when absent.
func (tx *Tx) get(ctx context.Context, key string, v any) (bool, error) {
	raw, etag, err := tx.kv.Get(ctx, key)
	if errors.Is(err, ErrNotFound) {
		tx.etags[key] = ""
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return false, fmt.Errorf("decode %s: %w", key, err)
	}
	tx.etags[key] = etag
	return true, nil
}

func (tx *Tx) stage(op Op) {
	if etag, read := tx.etags[op.Key]; read {
		op.ETag, op.InsertOnly = etag, etag == "" && !op.Delete
	}
	if i, ok := tx.index[op.Key]; ok {
		tx.ops[i] = op
		return
	}
	tx.index[op.Key] = len(tx.ops)
	tx.ops = append(tx.ops, op)
}

// Announce makes the transaction publish e when it commits, and only then
// (the store's outbox).
func (tx *Tx) Announce(e *Event) { tx.event = e }

// Read reads id into a new T within tx; the repository's NotFound error
// when absent (a later write then creates it only if it is still absent).
func (r Repo[T]) Read(ctx context.Context, tx *Tx, id string) (*T, error) {
	var v T
	found, err := tx.get(ctx, r.key(id), &v)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, r.notFound()
	}
	return &v, nil
}

// ReadOrNew is Read that gives a zero T for an absent id.
func (r Repo[T]) ReadOrNew(ctx context.Context, tx *Tx, id string) (*T, error) {
	var v T
	if _, err := tx.get(ctx, r.key(id), &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// Write stages v under id: guarded by what tx read of it, insert-only if it
// read it as absent, unconditional if it never read it.
func (r Repo[T]) Write(tx *Tx, id string, v *T) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tx.stage(r.write(id, b))
	return nil
}

// Insert stages v under id, failing the transaction if id exists.
func (r Repo[T]) Insert(tx *Tx, id string, v *T) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	op := r.write(id, b)
	op.InsertOnly = true
	tx.stage(op)
	return nil
}

// Remove stages the deletion of id (guarded if tx read it).
func (r Repo[T]) Remove(tx *Tx, id string) { tx.stage(Op{Key: r.key(id), Delete: true}) }

// Upsert reads id (a zero T when absent), applies fn, and writes the result
// only if nobody wrote in between (creating it only if still absent),
// retrying on a conflict. fn's error aborts without writing.
func (r Repo[T]) Upsert(ctx context.Context, id string, fn func(v *T, exists bool) error) (*T, error) {
	var out *T
	err := Transact(ctx, r.KV, func(tx *Tx) error {
		v, err := r.Read(ctx, tx, id)
		exists := err == nil
		if err != nil && !errors.Is(err, r.notFound()) {
			return err
		}
		if !exists {
			v = new(T)
		}
		if err := fn(v, exists); err != nil {
			return err
		}
		out = v
		return r.Write(tx, id, v)
	})
	return out, err
}

// Versioned is a stored value with its ETag.
type Versioned struct {
	Value []byte
	ETag  string
}

// VersionedReader is a KV that reads many keys with their ETags in one round
// trip (Dapr's bulk get, the in-memory store); ReadMany uses it when it can.
type VersionedReader interface {
	GetManyVersioned(ctx context.Context, keys []string) (map[string]Versioned, error)
}

// ReadMany reads several ids within tx in one round trip where the store
// allows it, by id; an absent id is missing from the map (and a later
// write then creates it only if it is still absent). Like Read, it sees
// what is stored, not what tx staged: read each key once per transaction.
func (r Repo[T]) ReadMany(ctx context.Context, tx *Tx, ids []string) (map[string]*T, error) {
	out := make(map[string]*T, len(ids))
	vr, ok := tx.kv.(VersionedReader)
	if !ok {
		for _, id := range ids {
			v, err := r.Read(ctx, tx, id)
			if errors.Is(err, r.notFound()) {
				continue
			}
			if err != nil {
				return nil, err
			}
			out[id] = v
		}
		return out, nil
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = r.key(id)
	}
	got, err := vr.GetManyVersioned(ctx, keys)
	if err != nil {
		return nil, err
	}
	for i, id := range ids {
		it, found := got[keys[i]]
		if !found {
			tx.etags[keys[i]] = ""
			continue
		}
		var v T
		if err := json.Unmarshal(it.Value, &v); err != nil {
			return nil, fmt.Errorf("decode %s: %w", keys[i], err)
		}
		tx.etags[keys[i]] = it.ETag
		out[id] = &v
	}
	return out, nil
}

// LocalKey returns random key material of size bytes kept under key,
// creating it once (the first writer wins). Only a developer's stack uses
// it: elsewhere keys are secrets from the secret store, and apps fail
// closed without them.
func LocalKey(ctx context.Context, kv KV, key string, size int) ([]byte, error) {
	type stored struct {
		Key []byte `json:"key"`
	}
	repo := Repo[stored]{KV: kv}
	v, err := repo.Upsert(ctx, key, func(v *stored, exists bool) error {
		if !exists || len(v.Key) != size {
			v.Key = make([]byte, size)
			if _, err := rand.Read(v.Key); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return v.Key, nil
}
