// Package adapters connects playlists to other services through Dapr.
package adapters

import (
	"context"
	"net/http"

	"github.com/harmonia-music/harmonia/internal/platform"
	"github.com/harmonia-music/harmonia/internal/platform/dapr"
)

// Albums checks tracks against the catalogue.
type Albums struct{ Invoker *dapr.Invoker }

// Exists implements app.Tracks: a published track exists; anything else does not.
func (a Albums) Exists(ctx context.Context, trackID string) (bool, error) {
	err := a.Invoker.Call(ctx, "albums", http.MethodGet, "/internal/tracks/"+trackID, nil, nil)
	if err == nil {
		return true, nil
	}
	if platform.StatusOf(err) == http.StatusNotFound {
		return false, nil
	}
	return false, err
}
