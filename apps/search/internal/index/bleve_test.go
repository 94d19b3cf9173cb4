package index

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/harmonia-music/harmonia/apps/search/internal/domain"
)

// A folder that is not a readable index (empty, half-written) is replaced by
// a fresh one that asks for a rebuild; a good one opens with its documents.
func TestOpenStartsAfreshOnlyWhenItMust(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "index")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	b, fresh, err := Open(dir)
	if err != nil || !fresh {
		t.Fatal(err, fresh)
	}
	if err := b.Put([]domain.Doc{{Kind: domain.Artist, ID: "a1", Name: "Beyoncé", Version: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b, fresh, err = Open(dir)
	if err != nil || fresh {
		t.Fatal(err, fresh)
	}
	defer b.Close()
	if r, err := b.Search(Fold("beyonce"), []domain.Kind{domain.Artist}, 10); err != nil || len(r.Hits) != 1 {
		t.Fatalf("%+v %v", r, err)
	}
}

func TestFoldLowersAndFoldsAccents(t *testing.T) {
	got := Fold("Beyoncé  ÉCHOS naïve")
	want := []string{"beyonce", "echos", "naive"}
	if len(got) != len(want) {
		t.Fatalf("%v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("%v, want %v", got, want)
		}
	}
}
