package domain

import (
	"errors"
	"testing"
	"time"
)

func TestNormalizeRoles(t *testing.T) {
	cases := []struct {
		in   []string
		want []string
		ok   bool
	}{
		{[]string{"listener"}, []string{"listener"}, true},
		{[]string{"admin", "listener", "admin"}, []string{"admin", "listener"}, true},
		{nil, nil, false},
		{[]string{"root"}, nil, false},
	}
	for _, c := range cases {
		got, err := NormalizeRoles(c.in)
		if (err == nil) != c.ok {
			t.Fatalf("%v: err=%v", c.in, err)
		}
		if c.ok && len(got) != len(c.want) {
			t.Fatalf("%v: got %v want %v", c.in, got, c.want)
		}
		for i := range c.want {
			if got[i] != c.want[i] {
				t.Fatalf("%v: got %v want %v", c.in, got, c.want)
			}
		}
	}
}

func TestCheckRefresh(t *testing.T) {
	now := time.Now()
	used := now.Add(-time.Minute)
	live := RefreshToken{ExpiresAt: now.Add(time.Hour)}
	cases := []struct {
		name string
		tok  RefreshToken
		fam  Family
		want error
	}{
		{"fresh", live, Family{}, nil},
		{"used", RefreshToken{ExpiresAt: now.Add(time.Hour), UsedAt: &used}, Family{}, ErrRefreshReused},
		{"expired", RefreshToken{ExpiresAt: now.Add(-time.Second)}, Family{}, ErrRefreshInvalid},
		{"revoked family", live, Family{RevokedAt: &used}, ErrRefreshInvalid},
	}
	for _, c := range cases {
		if err := CheckRefresh(c.tok, c.fam, now); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v want %v", c.name, err, c.want)
		}
	}
}

func TestThrottleCountsAttemptsThenLocks(t *testing.T) {
	p := ThrottlePolicy{MaxFailures: 3, Window: time.Minute, Lockout: 5 * time.Minute}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var th Throttle
	// three attempts in flight at once; a fourth waits, and nothing locks
	for i := 0; i < 3; i++ {
		if th.Reserve(p, start) != 0 {
			t.Fatalf("attempt %d refused", i+1)
		}
	}
	if wait := th.Reserve(p, start); wait != time.Second || th.Locked(start) != 0 {
		t.Fatalf("a fourth attempt in flight: wait %v, locked %v", wait, th.Locked(start))
	}
	// three failures lock
	for i := 0; i < 3; i++ {
		th.Fail(p, start.Add(time.Duration(i)*time.Second))
	}
	if got := th.Locked(start.Add(2 * time.Second)); got != 5*time.Minute {
		t.Fatalf("lock = %v", got)
	}
	if th.Reserve(p, start.Add(3*time.Second)) == 0 {
		t.Fatal("a locked account took an attempt")
	}
	// a reservation whose outcome never came (a crash) is freed after a while
	var stuck Throttle
	for i := 0; i < 3; i++ {
		stuck.Reserve(p, start)
	}
	if stuck.Reserve(p, start.Add(time.Minute)) != 0 {
		t.Fatal("stale reservations held the account")
	}
	// failures spread beyond the window never lock
	var slow Throttle
	for i := 0; i < 10; i++ {
		at := start.Add(time.Duration(i) * 2 * time.Minute)
		if slow.Reserve(p, at) != 0 {
			t.Fatal("slow attempts refused")
		}
		slow.Fail(p, at)
	}
	if slow.Locked(start.Add(20*time.Minute)) != 0 {
		t.Fatal("slow failures locked")
	}
}

func TestBucketSlowsAnAddressDown(t *testing.T) {
	p := AddressPolicy{Burst: 3, Refill: 20 * time.Second}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var b Bucket
	if b.Wait(p, now, false) != 0 {
		t.Fatal("a new address waits")
	}
	for i := 0; i < 3; i++ {
		b.Take(p, now, i > 0)
	}
	if wait := b.Wait(p, now, true); wait != 20*time.Second {
		t.Fatalf("after the burst of failures: wait %v", wait)
	}
	// a few attempts a minute past the limit, not a 15-minute lockout
	if b.Wait(p, now.Add(20*time.Second), true) != 0 {
		t.Fatal("no attempt after one refill")
	}
}
