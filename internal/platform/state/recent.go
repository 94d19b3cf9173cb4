package state

import (
	"context"
	"sync"
)

// Recent is a KV that keeps only its last n keys, in memory: the inbox of a
// consumer with no state store of its own (search), where skipping a
// redelivery Dapr makes within seconds is what matters. Values, ETags and
// TTLs are not kept; a restart forgets everything.
type Recent struct {
	mu   sync.Mutex
	ids  map[string]struct{}
	ring []string
	next int
}

// NewRecent keeps the last n keys.
func NewRecent(n int) *Recent {
	return &Recent{ids: make(map[string]struct{}, n), ring: make([]string, n)}
}

// Get implements KV.
func (r *Recent) Get(_ context.Context, key string) ([]byte, string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.ids[key]; ok {
		return []byte("1"), "", nil
	}
	return nil, "", ErrNotFound
}

// GetMany implements KV.
func (r *Recent) GetMany(ctx context.Context, keys []string) (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, k := range keys {
		if v, _, err := r.Get(ctx, k); err == nil {
			out[k] = v
		}
	}
	return out, nil
}

// Transact implements KV: upserts remember their key, deletes forget it.
func (r *Recent) Transact(_ context.Context, ops []Op) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, op := range ops {
		if op.Delete {
			delete(r.ids, op.Key)
			continue
		}
		if _, ok := r.ids[op.Key]; ok {
			continue
		}
		if old := r.ring[r.next]; old != "" {
			delete(r.ids, old)
		}
		r.ring[r.next] = op.Key
		r.ids[op.Key] = struct{}{}
		r.next = (r.next + 1) % len(r.ring)
	}
	return nil
}
