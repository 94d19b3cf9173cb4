package platform

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/harmonia-music/harmonia/internal/platform/fault"
)

// SignedIn returns the caller the gateway asserted, or answers 401 and
// reports false.
func SignedIn(w http.ResponseWriter, r *http.Request) (Caller, bool) {
	c, ok := CallerFrom(r.Context())
	if !ok {
		WriteError(w, r, E(KindUnauthenticated, "unauthenticated", "sign in first"))
	}
	return c, ok
}

// SignedInUser is SignedIn for handlers that need only the user's id.
func SignedInUser(w http.ResponseWriter, r *http.Request) (string, bool) {
	c, ok := SignedIn(w, r)
	return c.UserID, ok
}

// IfMatchVersion reads an If-Match header holding a version ETag ("v3");
// 0 when absent or "*".
func IfMatchVersion(r *http.Request) (int, error) {
	h := strings.TrimSpace(r.Header.Get("If-Match"))
	if h == "" || h == "*" {
		return 0, nil
	}
	n, err := strconv.Atoi(strings.TrimPrefix(strings.Trim(strings.TrimPrefix(h, "W/"), `"`), "v"))
	if err != nil || n < 1 {
		return 0, E(KindPrecondition, "precondition-failed", "If-Match must be an ETag this API gave you")
	}
	return n, nil
}

// VersionETag is the ETag of a resource version.
func VersionETag(version int) string { return `"v` + strconv.Itoa(version) + `"` }

// Main is every app's main: run until SIGINT or SIGTERM, exit 1 on error.
func Main(name string, run func(ctx context.Context, getenv func(string) string, stdout io.Writer) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Getenv, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}

// RequireAdmin returns the caller if they hold the admin role, or answers
// 401/403: a service re-checks the role the gateway already checked, never
// relying on a single wall.
func RequireAdmin(w http.ResponseWriter, r *http.Request) (Caller, bool) {
	c, ok := SignedIn(w, r)
	if !ok {
		return c, false
	}
	if !c.HasRole("admin") {
		WriteError(w, r, E(KindForbidden, "forbidden", "this needs the admin role"))
		return c, false
	}
	return c, true
}

// QueryLimit reads a limit query parameter: def when empty, else a number
// within 1..max (a 400 naming "limit" otherwise).
func QueryLimit(s string, def, max int) (int, error) {
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > max {
		return 0, fault.Invalid("limit", "must be a number between 1 and "+strconv.Itoa(max))
	}
	return n, nil
}
