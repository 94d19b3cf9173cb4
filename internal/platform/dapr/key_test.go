package dapr

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/harmonia-music/harmonia/internal/platform/state"
)

type secretMap map[string]string

func (m secretMap) Get(_ context.Context, k string) (string, error) {
	if v, ok := m[k]; ok {
		return v, nil
	}
	return "", errors.New("no such secret")
}

func TestKeyFailsClosedOutsideTheLocalStack(t *testing.T) {
	ctx, log := context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil))
	spec := KeySpec{Secret: "K", Parse: TextKey, LocalKey: "key|k", Size: 32, Purpose: "tests"}
	kv := state.NewMemory()
	long := strings.Repeat("s", 40)
	if k, err := Key(ctx, secretMap{"K": long}, kv, false, log, spec); err != nil || string(k) != long {
		t.Fatalf("the secret: %q %v", k, err)
	}
	for _, sec := range []secretMap{{}, {"K": "short"}} {
		if _, err := Key(ctx, sec, kv, false, log, spec); err == nil || !strings.Contains(err.Error(), "K") {
			t.Fatalf("outside the local stack without a usable secret: %v", err)
		}
	}
	if kv.Len() != 0 {
		t.Fatal("a stand-in was made outside the local stack")
	}
	a, err := Key(ctx, secretMap{"K": "short"}, kv, true, log, spec)
	b, err2 := Key(ctx, secretMap{}, kv, true, log, spec)
	if err != nil || err2 != nil || len(a) != 32 || !bytes.Equal(a, b) {
		t.Fatalf("the local stand-in is not one stable key: %x %x %v %v", a, b, err, err2)
	}
}
