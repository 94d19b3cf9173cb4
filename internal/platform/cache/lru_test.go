package cache

import (
	"testing"
	"time"
)

func TestLRUEvictsTheLeastRecentlyUsedAndExpires(t *testing.T) {
	now := time.Unix(0, 0)
	c := New[string, int](2, time.Minute, func() time.Time { return now })
	c.Put("a", 1)
	c.Put("b", 2)
	if v, ok := c.Get("a"); !ok || v != 1 { // a is now the most recent
		t.Fatal(v, ok)
	}
	c.Put("c", 3) // evicts b, not everything
	if _, ok := c.Get("b"); ok {
		t.Fatal("b survived past the bound")
	}
	if _, ok := c.Get("a"); !ok {
		t.Fatal("a, recently used, was evicted")
	}
	if c.Len() != 2 {
		t.Fatal(c.Len())
	}
	now = now.Add(time.Minute)
	if _, ok := c.Get("c"); ok {
		t.Fatal("an expired entry was served")
	}
	c.Clear()
	if c.Len() != 0 {
		t.Fatal(c.Len())
	}
}
