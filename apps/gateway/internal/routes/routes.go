// Package routes is the gateway's table of public endpoints: which app serves
// each, who may call it, and how large its body may be.
package routes

import "time"

// Access says who may call a route.
type Access int

const (
	// Public routes need no token (a token, if sent, is still verified).
	Public Access = iota
	// User routes need a valid access token.
	User
	// Admin routes need the admin role.
	Admin
)

// Route is one public endpoint.
type Route struct {
	Method  string
	Path    string // gorilla/mux template; the same path is invoked on the app
	App     string
	Access  Access
	MaxBody int64 // 0: the default limit
	// Timeout, when set, is the route's own deadline for its answer to
	// begin: past it the client gets 503 with Retry-After, whatever the
	// service does (a frozen one included); an answer that has begun (an
	// audio stream) is not cut. Search has one; it must answer fast or not
	// at all. The catalogue's reads have one.
	Timeout time.Duration
	// Stream marks a long-lived answer (server-sent events): no deadline,
	// the server's read timeout lifted, and besides a Bearer token it takes
	// a single-use ticket (?ticket=) that the gateway trades for the
	// listener before it forwards, because a browser's EventSource cannot
	// send headers.
	Stream bool
}

// NotificationsTimeout bounds notifications' routes other than the live
// stream: its sidecar target has no timeout of its own (the stream runs
// inside the call), so the gateway gives them one.
const NotificationsTimeout = 10 * time.Second

// SearchTimeout bounds a search or a suggestion.
const SearchTimeout = 1500 * time.Millisecond

// AlbumsTimeout bounds how long the catalogue's pages and streams may take
// to begin answering: a frozen albums (or its sidecar) costs a listener
// this long at most, then the breaker answers at once. A stream that has
// begun is not cut.
const AlbumsTimeout = 4 * time.Second

// Table lists every endpoint the gateway forwards. Paths not listed answer
// 404 at the gateway and never reach a service.
var Table = []Route{
	{Method: "POST", Path: "/api/v1/auth/register", App: "auth", Access: Public},
	{Method: "POST", Path: "/api/v1/auth/login", App: "auth", Access: Public},
	{Method: "POST", Path: "/api/v1/auth/refresh", App: "auth", Access: Public},
	{Method: "POST", Path: "/api/v1/auth/logout", App: "auth", Access: Public},
	{Method: "GET", Path: "/api/v1/auth/jwks", App: "auth", Access: Public},
	{Method: "PUT", Path: "/api/v1/admin/users/{id}/roles", App: "auth", Access: Admin},
	{Method: "POST", Path: "/api/v1/admin/auth/keys/rotate", App: "auth", Access: Admin},

	{Method: "GET", Path: "/api/v1/me", App: "users", Access: User},
	{Method: "PATCH", Path: "/api/v1/me", App: "users", Access: User},
	{Method: "DELETE", Path: "/api/v1/me", App: "users", Access: User},
	{Method: "GET", Path: "/api/v1/me/preferences", App: "users", Access: User},
	{Method: "PUT", Path: "/api/v1/me/preferences", App: "users", Access: User},
	{Method: "GET", Path: "/api/v1/me/player", App: "users", Access: User},
	{Method: "PUT", Path: "/api/v1/me/player", App: "users", Access: User},
	{Method: "GET", Path: "/api/v1/me/following", App: "users", Access: User},
	{Method: "PUT", Path: "/api/v1/me/following/{artistId}", App: "users", Access: User},
	{Method: "DELETE", Path: "/api/v1/me/following/{artistId}", App: "users", Access: User},

	{Method: "GET", Path: "/api/v1/artists", App: "albums", Access: User, Timeout: AlbumsTimeout},
	{Method: "POST", Path: "/api/v1/artists", App: "albums", Access: Admin},
	{Method: "GET", Path: "/api/v1/artists/{id}", App: "albums", Access: User, Timeout: AlbumsTimeout},
	{Method: "PATCH", Path: "/api/v1/artists/{id}", App: "albums", Access: User},
	{Method: "GET", Path: "/api/v1/albums", App: "albums", Access: User, Timeout: AlbumsTimeout},
	{Method: "POST", Path: "/api/v1/albums", App: "albums", Access: User},
	{Method: "GET", Path: "/api/v1/albums/{id}", App: "albums", Access: User, Timeout: AlbumsTimeout},
	{Method: "PATCH", Path: "/api/v1/albums/{id}", App: "albums", Access: User},
	{Method: "POST", Path: "/api/v1/albums/{id}/tracks", App: "albums", Access: User},
	{Method: "POST", Path: "/api/v1/albums/{id}/publish", App: "albums", Access: User},
	{Method: "GET", Path: "/api/v1/tracks/{id}", App: "albums", Access: User, Timeout: AlbumsTimeout},
	{Method: "PUT", Path: "/api/v1/tracks/{id}/audio", App: "albums", Access: User, MaxBody: AudioMaxBody},
	{Method: "GET", Path: "/api/v1/tracks/{id}/stream", App: "albums", Access: User, Timeout: AlbumsTimeout},
	{Method: "HEAD", Path: "/api/v1/tracks/{id}/stream", App: "albums", Access: User, Timeout: AlbumsTimeout},
	{Method: "POST", Path: "/api/v1/admin/catalog/import", App: "albums", Access: Admin, MaxBody: 32 << 20},

	{Method: "GET", Path: "/api/v1/me/playlists", App: "playlists", Access: User},
	{Method: "POST", Path: "/api/v1/playlists", App: "playlists", Access: User},
	{Method: "GET", Path: "/api/v1/playlists/{id}", App: "playlists", Access: User},
	{Method: "PATCH", Path: "/api/v1/playlists/{id}", App: "playlists", Access: User},
	{Method: "DELETE", Path: "/api/v1/playlists/{id}", App: "playlists", Access: User},
	{Method: "POST", Path: "/api/v1/playlists/{id}/tracks", App: "playlists", Access: User},
	{Method: "DELETE", Path: "/api/v1/playlists/{id}/tracks/{entryId}", App: "playlists", Access: User},
	{Method: "PUT", Path: "/api/v1/playlists/{id}/order", App: "playlists", Access: User},

	{Method: "GET", Path: "/api/v1/search", App: "search", Access: User, Timeout: SearchTimeout},
	{Method: "GET", Path: "/api/v1/search/suggest", App: "search", Access: User, Timeout: SearchTimeout},
	{Method: "POST", Path: "/api/v1/admin/search/reindex", App: "search", Access: Admin, Timeout: SearchTimeout},

	{Method: "GET", Path: "/api/v1/plans", App: "subscriptions", Access: Public},
	{Method: "POST", Path: "/api/v1/subscriptions", App: "subscriptions", Access: User},
	{Method: "GET", Path: "/api/v1/subscriptions/{id}", App: "subscriptions", Access: User},
	{Method: "GET", Path: "/api/v1/me/subscription", App: "subscriptions", Access: User},
	{Method: "POST", Path: "/api/v1/subscriptions/{id}/cancel", App: "subscriptions", Access: User},
	{Method: "POST", Path: "/api/v1/subscriptions/{id}/members", App: "subscriptions", Access: User},
	{Method: "DELETE", Path: "/api/v1/subscriptions/{id}/members/{userId}", App: "subscriptions", Access: User},
	{Method: "GET", Path: "/api/v1/me/invitations", App: "subscriptions", Access: User},
	{Method: "POST", Path: "/api/v1/me/invitations/{id}/accept", App: "subscriptions", Access: User},
	{Method: "DELETE", Path: "/api/v1/me/membership", App: "subscriptions", Access: User},

	{Method: "POST", Path: "/api/v1/me/payment-methods", App: "payments", Access: User},
	{Method: "GET", Path: "/api/v1/me/payment-methods", App: "payments", Access: User},
	{Method: "DELETE", Path: "/api/v1/me/payment-methods/{id}", App: "payments", Access: User},
	{Method: "GET", Path: "/api/v1/me/payments", App: "payments", Access: User},

	{Method: "GET", Path: "/api/v1/me/notifications", App: "notifications", Access: User, Timeout: NotificationsTimeout},
	{Method: "POST", Path: "/api/v1/me/notifications/read-all", App: "notifications", Access: User, Timeout: NotificationsTimeout},
	{Method: "POST", Path: "/api/v1/me/notifications/stream-ticket", App: "notifications", Access: User, Timeout: NotificationsTimeout},
	{Method: "GET", Path: "/api/v1/me/notifications/stream", App: "notifications", Access: User, Stream: true},
	{Method: "POST", Path: "/api/v1/me/notifications/{id}/read", App: "notifications", Access: User, Timeout: NotificationsTimeout},
	{Method: "GET", Path: "/api/v1/notifications/unsubscribe", App: "notifications", Access: Public, Timeout: NotificationsTimeout},
	{Method: "POST", Path: "/api/v1/admin/offers", App: "notifications", Access: Admin, Timeout: NotificationsTimeout},
	{Method: "GET", Path: "/api/v1/admin/notifications/failed", App: "notifications", Access: Admin, Timeout: NotificationsTimeout},
	{Method: "POST", Path: "/api/v1/admin/notifications/failed/{id}/retry", App: "notifications", Access: Admin, Timeout: NotificationsTimeout},

	{Method: "GET", Path: "/api/v1/admin/audit", App: "logging", Access: Admin},
	{Method: "GET", Path: "/api/v1/admin/audit/verify", App: "logging", Access: Admin},

	{Method: "GET", Path: "/api/v1/admin/analytics/{report}", App: "analytics", Access: Admin},
}

// AudioMaxBody bounds audio uploads at the edge (albums checks its own limit too).
const AudioMaxBody = 10<<20 + 1024
