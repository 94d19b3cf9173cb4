// Package adapters connects search to the services it rebuilds from.
package adapters

import (
	"context"
	"net/http"
	"net/url"

	"github.com/harmonia-music/harmonia/internal/exports"
	"github.com/harmonia-music/harmonia/internal/platform/dapr"
)

// Exports reads albums' and playlists' internal exports by invocation (their
// access-control policies allow search only).
type Exports struct{ Invoker *dapr.Invoker }

func get[T any](ctx context.Context, inv *dapr.Invoker, app, path, cursor string) (exports.Page[T], error) {
	var p exports.Page[T]
	if cursor != "" {
		path += "?cursor=" + url.QueryEscape(cursor)
	}
	err := inv.Call(ctx, app, http.MethodGet, path, nil, &p)
	return p, err
}

// Artists implements app.Exporter.
func (e Exports) Artists(ctx context.Context, cursor string) (exports.Page[exports.Artist], error) {
	return get[exports.Artist](ctx, e.Invoker, "albums", "/internal/export/artists", cursor)
}

// Albums implements app.Exporter.
func (e Exports) Albums(ctx context.Context, cursor string) (exports.Page[exports.Album], error) {
	return get[exports.Album](ctx, e.Invoker, "albums", "/internal/export/albums", cursor)
}

// Playlists implements app.Exporter.
func (e Exports) Playlists(ctx context.Context, cursor string) (exports.Page[exports.Playlist], error) {
	return get[exports.Playlist](ctx, e.Invoker, "playlists", "/internal/export/playlists", cursor)
}
