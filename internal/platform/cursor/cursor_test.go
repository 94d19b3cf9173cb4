package cursor

import "testing"

func TestCursorRoundTripsAndRefusesOtherLists(t *testing.T) {
	c := Encode(40, "albums:new")
	if n, err := Decode(c, "albums:new"); err != nil || n != 40 {
		t.Fatal(n, err)
	}
	for _, bad := range []string{"x", "!!", Encode(40, "playlists"), Encode(-1, "albums:new")} {
		if _, err := Decode(bad, "albums:new"); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
	if n, err := Decode("", "any"); err != nil || n != 0 {
		t.Fatal(n, err)
	}
}
