package state

import (
	"context"

	"github.com/harmonia-music/harmonia/internal/events"
	"strconv"
	"sync"
)

// Memory is an in-memory KV for unit tests. It honours ETags, insert-only
// writes and all-or-nothing transactions like the Dapr SQLite store.
type Memory struct {
	mu      sync.Mutex
	data    map[string]memItem
	version int
	// FailNext, when set, makes the next Transact fail with this error.
	FailNext error
	// Events are the events committed with transactions (the outbox).
	Events []Event
}

type memItem struct {
	value []byte
	etag  string
	ttl   int // seconds asked for with the last write; 0 for none
}

// NewMemory returns an empty store.
func NewMemory() *Memory { return &Memory{data: map[string]memItem{}} }

// Get implements KV.
func (m *Memory) Get(_ context.Context, key string) ([]byte, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	it, ok := m.data[key]
	if !ok {
		return nil, "", ErrNotFound
	}
	return append([]byte(nil), it.value...), it.etag, nil
}

// GetMany implements KV.
func (m *Memory) GetMany(_ context.Context, keys []string) (map[string][]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string][]byte{}
	for _, k := range keys {
		if it, ok := m.data[k]; ok {
			out[k] = append([]byte(nil), it.value...)
		}
	}
	return out, nil
}

// Transact implements KV.
func (m *Memory) Transact(_ context.Context, ops []Op) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.FailNext; err != nil {
		m.FailNext = nil
		return err
	}
	for _, op := range ops {
		if op.Event != nil {
			if err := events.Validate(op.Event.Data); err != nil {
				return err
			}
		}
		cur, exists := m.data[op.Key]
		switch {
		case op.ETag != "" && (!exists || cur.etag != op.ETag):
			return ErrConflict
		case op.ETag == "" && op.InsertOnly && exists:
			return ErrConflict
		}
	}
	for _, op := range ops {
		if op.Event != nil {
			m.Events = append(m.Events, *op.Event)
		}
		if op.Delete {
			delete(m.data, op.Key)
			continue
		}
		m.version++
		m.data[op.Key] = memItem{value: append([]byte(nil), op.Value...), etag: strconv.Itoa(m.version), ttl: op.TTLSeconds}
	}
	return nil
}

// TTL is the time to live the last write of key asked for (0: none).
func (m *Memory) TTL(key string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.data[key].ttl
}

// Dump copies every key and value (tests look through it for what must be gone).
func (m *Memory) Dump() map[string][]byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string][]byte, len(m.data))
	for k, it := range m.data {
		out[k] = append([]byte(nil), it.value...)
	}
	return out
}

// Len returns the number of stored keys.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.data)
}

// GetManyVersioned implements VersionedReader.
func (m *Memory) GetManyVersioned(_ context.Context, keys []string) (map[string]Versioned, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]Versioned{}
	for _, k := range keys {
		if it, ok := m.data[k]; ok {
			out[k] = Versioned{Value: append([]byte(nil), it.value...), ETag: it.etag}
		}
	}
	return out, nil
}
