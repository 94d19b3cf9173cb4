// Package cache is a bounded, expiring LRU cache for values an app may keep
// in memory for a short while (views, entitlements). Bounded: at Cap entries
// the least recently used one goes, instead of dropping everything at once.
package cache

import (
	"container/list"
	"sync"
	"time"
)

// LRU maps keys to values for at most TTL each, holding at most Cap.
type LRU[K comparable, V any] struct {
	mu    sync.Mutex
	cap   int
	ttl   time.Duration
	now   func() time.Time
	order *list.List // front: most recently used
	items map[K]*list.Element
}

type entry[K comparable, V any] struct {
	key K
	val V
	at  time.Time
}

// New makes a cache of at most capacity entries, each kept for ttl; now may
// be nil (time.Now).
func New[K comparable, V any](capacity int, ttl time.Duration, now func() time.Time) *LRU[K, V] {
	if now == nil {
		now = time.Now
	}
	if capacity < 1 {
		capacity = 1
	}
	return &LRU[K, V]{cap: capacity, ttl: ttl, now: now, order: list.New(), items: map[K]*list.Element{}}
}

// Get returns the value of key if present and younger than the TTL.
func (c *LRU[K, V]) Get(key K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var zero V
	el, ok := c.items[key]
	if !ok {
		return zero, false
	}
	e := el.Value.(*entry[K, V])
	if c.now().Sub(e.at) >= c.ttl {
		c.order.Remove(el)
		delete(c.items, key)
		return zero, false
	}
	c.order.MoveToFront(el)
	return e.val, true
}

// Put stores val under key, evicting the least recently used entry when full.
func (c *LRU[K, V]) Put(key K, val V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		el.Value = &entry[K, V]{key: key, val: val, at: c.now()}
		c.order.MoveToFront(el)
		return
	}
	c.items[key] = c.order.PushFront(&entry[K, V]{key: key, val: val, at: c.now()})
	for c.order.Len() > c.cap {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.items, last.Value.(*entry[K, V]).key)
	}
}

// Clear drops every entry.
func (c *LRU[K, V]) Clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.order.Init()
	c.items = map[K]*list.Element{}
}

// Len is the number of entries (expired ones included until touched).
func (c *LRU[K, V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
