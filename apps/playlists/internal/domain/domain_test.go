package domain

import (
	"errors"
	"testing"
)

func entries(ids ...string) []Entry {
	out := make([]Entry, len(ids))
	for i, id := range ids {
		out[i] = Entry{ID: id, TrackID: "t" + id}
	}
	return out
}

func order(p *Playlist) string {
	s := ""
	for _, e := range p.Entries {
		s += e.ID
	}
	return s
}

func TestEntries(t *testing.T) {
	p := &Playlist{Entries: entries("a", "b", "c")}
	_ = p.Insert(Entry{ID: "x"}, 1)
	_ = p.Insert(Entry{ID: "y"}, 99)
	_ = p.Insert(Entry{ID: "z"}, -1)
	if order(p) != "axbcyz" {
		t.Fatal(order(p))
	}
	if err := p.Remove("b"); err != nil || order(p) != "axcyz" {
		t.Fatal(err, order(p))
	}
	if err := p.Remove("nope"); !errors.Is(err, ErrNoEntry) {
		t.Fatal(err)
	}
	if err := p.Reorder([]string{"z", "y", "x", "c", "a"}); err != nil || order(p) != "zyxca" {
		t.Fatal(err, order(p))
	}
	for _, bad := range [][]string{{"z", "y", "x", "c"}, {"z", "z", "x", "c", "a"}, {"z", "y", "x", "c", "q"}} {
		if err := p.Reorder(bad); !errors.Is(err, ErrBadOrder) || order(p) != "zyxca" {
			t.Fatalf("%v: %v %s", bad, err, order(p))
		}
	}
}

func TestAccess(t *testing.T) {
	pub := &Playlist{OwnerID: "o", Public: true}
	priv := &Playlist{OwnerID: "o"}
	cases := []struct {
		p     *Playlist
		user  string
		write bool
		want  error
	}{
		{pub, "o", true, nil}, {priv, "o", true, nil}, {pub, "x", false, nil},
		{pub, "x", true, ErrNotOwner}, {priv, "x", false, ErrNotFound}, {priv, "x", true, ErrNotFound},
	}
	for i, c := range cases {
		if err := Access(c.p, c.user, c.write); !errors.Is(err, c.want) {
			t.Errorf("%d: %v want %v", i, err, c.want)
		}
	}
	if err := CheckVersion(&Playlist{Version: 3}, 2); !errors.Is(err, ErrStale) {
		t.Fatal(err)
	}
	if CheckVersion(&Playlist{Version: 3}, 0) != nil || CheckVersion(&Playlist{Version: 3}, 3) != nil {
		t.Fatal("version check")
	}
}
