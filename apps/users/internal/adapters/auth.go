// Package adapters connects users to other services through Dapr.
package adapters

import (
	"context"
	"net/http"

	"github.com/harmonia-music/harmonia/internal/platform/dapr"
)

// AuthClient reaches auth's internal account operations.
type AuthClient struct{ Invoker *dapr.Invoker }

// ChangeEmail implements app.Accounts.
func (a AuthClient) ChangeEmail(ctx context.Context, userID, email string, version int) error {
	return a.Invoker.Call(ctx, "auth", http.MethodPut, "/internal/accounts/"+userID+"/email",
		map[string]any{"email": email, "version": version}, nil)
}

// Delete implements app.Accounts.
func (a AuthClient) Delete(ctx context.Context, userID string) error {
	return a.Invoker.Call(ctx, "auth", http.MethodDelete, "/internal/accounts/"+userID, nil, nil)
}
