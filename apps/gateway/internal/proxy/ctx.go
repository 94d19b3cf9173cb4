package proxy

import (
	"context"
	"net/http"

	"github.com/harmonia-music/harmonia/internal/platform"
)

func contextWith(r *http.Request, c platform.Caller) context.Context {
	return context.WithValue(r.Context(), callerKey{}, c)
}
