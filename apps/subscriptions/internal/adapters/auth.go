package adapters

import (
	"context"
	"errors"
	"net/http"

	"github.com/harmonia-music/harmonia/internal/platform"
	"github.com/harmonia-music/harmonia/internal/platform/dapr"
)

// Accounts asks auth which account signs in with an address.
type Accounts struct{ Invoker *dapr.Invoker }

// AccountID implements app.Accounts: "" when no account has the address.
func (a Accounts) AccountID(ctx context.Context, email string) (string, error) {
	var out struct {
		ID string `json:"id"`
	}
	err := a.Invoker.Call(ctx, "auth", http.MethodPost, "/internal/accounts/lookup", map[string]string{"email": email}, &out)
	var up *platform.UpstreamError
	if errors.As(err, &up) && up.Status == http.StatusNotFound {
		return "", nil
	}
	return out.ID, err
}
