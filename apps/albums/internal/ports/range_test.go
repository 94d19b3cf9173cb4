package ports

import "testing"

func TestCheckRange(t *testing.T) {
	cases := []struct {
		h     string
		start int64
		ok    bool
	}{
		{"", 0, true}, {"bytes=0-99", 0, true}, {"bytes=100-", 100, true}, {"bytes=-50", 950, true},
		{"bytes=500-599,0-9", 0, true}, {"bytes=999-999", 999, true},
		{"bytes=1000-", 0, false}, {"bytes=abc", 0, false}, {"bytes=5-1", 0, false}, {"items=0-1", 0, false},
		{"bytes=", 0, false}, {"bytes=-0", 0, false}, {"bytes=-", 0, false},
	}
	for _, c := range cases {
		start, ok := checkRange(c.h, 1000)
		if ok != c.ok || (ok && start != c.start) {
			t.Errorf("%q: start=%d ok=%v, want %d %v", c.h, start, ok, c.start, c.ok)
		}
	}
}
