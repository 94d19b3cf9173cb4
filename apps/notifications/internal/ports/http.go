// Package ports translates HTTP and events to notifications' use cases.
package ports

import (
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/harmonia-music/harmonia/apps/notifications/internal/app"
	"github.com/harmonia-music/harmonia/apps/notifications/internal/domain"
	"github.com/harmonia-music/harmonia/internal/events"
	"github.com/harmonia-music/harmonia/internal/platform"
	"github.com/harmonia-music/harmonia/internal/platform/pubsub"
)

// Config tunes the HTTP side.
type Config struct {
	Heartbeat time.Duration   // a comment on every live stream this often
	Replay    int             // at most this many missed notifications replayed on reconnect
	Closing   <-chan struct{} // closed when the app stops: live streams end, so shutdown need not wait
}

// Routes mounts notifications' routes.
func Routes(r *mux.Router, s *app.Service, cfg Config) {
	if cfg.Heartbeat == 0 {
		cfg.Heartbeat = 15 * time.Second
	}
	if cfg.Replay == 0 {
		cfg.Replay = 500
	}
	h := handlers{s: s, cfg: cfg}
	r.HandleFunc("/api/v1/me/notifications", h.list).Methods(http.MethodGet)
	r.HandleFunc("/api/v1/me/notifications/read-all", h.readAll).Methods(http.MethodPost)
	r.HandleFunc("/api/v1/me/notifications/stream", h.stream).Methods(http.MethodGet)
	r.HandleFunc("/api/v1/me/notifications/stream-ticket", h.ticket).Methods(http.MethodPost)
	r.HandleFunc("/api/v1/me/notifications/{id}/read", h.read).Methods(http.MethodPost)
	r.HandleFunc("/api/v1/notifications/unsubscribe", h.unsubscribe).Methods(http.MethodGet)
	r.HandleFunc("/api/v1/admin/offers", h.offer).Methods(http.MethodPost)
	r.HandleFunc("/api/v1/admin/notifications/failed", h.failed).Methods(http.MethodGet)
	r.HandleFunc("/api/v1/admin/notifications/failed/{id}/retry", h.retry).Methods(http.MethodPost)
	r.HandleFunc("/internal/stream-tickets/redeem", h.redeem).Methods(http.MethodPost)
}

// Events subscribes notifications to what it tells listeners about.
func Events(r *mux.Router, subs, live *pubsub.Subscriptions, s *app.Service) {
	pubsub.On(r, subs, func(ctx context.Context, e events.UserRegistered) error { return s.Registered(ctx, e) })
	pubsub.On(r, subs, func(ctx context.Context, e events.UserUpdated) error { return s.Updated(ctx, e) })
	pubsub.On(r, subs, func(ctx context.Context, e events.UserDeleted) error { return s.Forget(ctx, e.UserID) })
	pubsub.On(r, subs, func(ctx context.Context, e events.ArtistFollowed) error {
		return s.Followed(ctx, e.UserID, e.ArtistID, true, e.FollowedAt)
	})
	pubsub.On(r, subs, func(ctx context.Context, e events.ArtistUnfollowed) error {
		return s.Followed(ctx, e.UserID, e.ArtistID, false, e.UnfollowedAt)
	})
	pubsub.On(r, subs, func(ctx context.Context, e events.AlbumPublished) error { return s.Published(ctx, e) })
	pubsub.On(r, subs, func(ctx context.Context, e events.SubscriptionActivated) error {
		return s.SubscriptionChanged(ctx, e.Topic(), e.Subscription)
	})
	pubsub.On(r, subs, func(ctx context.Context, e events.SubscriptionRenewed) error {
		return s.SubscriptionChanged(ctx, e.Topic(), e.Subscription)
	})
	pubsub.On(r, subs, func(ctx context.Context, e events.SubscriptionPaymentFailed) error {
		return s.SubscriptionChanged(ctx, e.Topic(), e.Subscription)
	})
	pubsub.On(r, subs, func(ctx context.Context, e events.SubscriptionCancelled) error {
		return s.SubscriptionChanged(ctx, e.Topic(), e.Subscription)
	})
	pubsub.On(r, subs, func(ctx context.Context, e events.SubscriptionExpired) error {
		return s.SubscriptionChanged(ctx, e.Topic(), e.Subscription)
	})
	pubsub.On(r, subs, func(ctx context.Context, e events.PaymentRefunded) error { return s.Refunded(ctx, e) })
	pubsub.On(r, subs, func(ctx context.Context, e events.MemberInvited) error { return s.Invited(ctx, e) })
	pubsub.On(r, subs, func(ctx context.Context, e events.OfferPublished) error { return s.OfferOut(ctx, e) })
	// every replica hears this one (its own consumer where there are several)
	pubsub.On(r, live, func(_ context.Context, e events.NotificationsDelivered) error {
		s.Delivered(e)
		return nil
	})
}

type handlers struct {
	s   *app.Service
	cfg Config
}

type itemView struct {
	ID        string     `json:"id"`
	Seq       int        `json:"seq"`
	Kind      string     `json:"kind"`
	Title     string     `json:"title"`
	Body      string     `json:"body"`
	Link      string     `json:"link,omitempty"`
	CreatedAt time.Time  `json:"createdAt"`
	ReadAt    *time.Time `json:"readAt"`
}

func viewOf(it domain.Item) itemView {
	return itemView{ID: it.ID, Seq: it.Seq, Kind: it.Kind, Title: it.Title, Body: it.Body, Link: it.Link,
		CreatedAt: it.CreatedAt, ReadAt: it.ReadAt}
}

func (h handlers) list(w http.ResponseWriter, r *http.Request) {
	uid, ok := platform.SignedInUser(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	var v platform.Validation
	unread := false
	switch q.Get("unread") {
	case "", "false":
	case "true":
		unread = true
	default:
		v.Add("unread", "must be true or false")
	}
	limit, err := platform.QueryLimit(q.Get("limit"), 20, app.MaxPage)
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	if err := v.Err(); err != nil {
		platform.WriteError(w, r, err)
		return
	}
	page, err := h.s.List(r.Context(), uid, unread, limit, q.Get("cursor"))
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	items := make([]itemView, len(page.Items))
	for i, it := range page.Items {
		items[i] = viewOf(it)
	}
	platform.WriteJSON(w, http.StatusOK, map[string]any{"items": items, "nextCursor": page.NextCursor, "unread": page.Unread})
}

func (h handlers) read(w http.ResponseWriter, r *http.Request) {
	uid, ok := platform.SignedInUser(w, r)
	if !ok {
		return
	}
	it, err := h.s.MarkRead(r.Context(), uid, mux.Vars(r)["id"])
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	platform.WriteJSON(w, http.StatusOK, viewOf(*it))
}

func (h handlers) readAll(w http.ResponseWriter, r *http.Request) {
	uid, ok := platform.SignedInUser(w, r)
	if !ok {
		return
	}
	if err := h.s.ReadAll(r.Context(), uid); err != nil {
		platform.WriteError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h handlers) ticket(w http.ResponseWriter, r *http.Request) {
	uid, ok := platform.SignedInUser(w, r)
	if !ok {
		return
	}
	t, exp, err := h.s.IssueTicket(r.Context(), uid)
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	platform.WriteJSON(w, http.StatusCreated, map[string]any{"ticket": t, "expiresAt": exp,
		"url": "/api/v1/me/notifications/stream?ticket=" + t})
}

// redeem serves the gateway: it trades a stream ticket for its listener
// before it forwards the stream (a refusal on the stream itself would reach
// the client as a sidecar's 500).
func (h handlers) redeem(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Ticket string `json:"ticket"`
	}
	if err := platform.DecodeJSON(w, r, &in); err != nil {
		platform.WriteError(w, r, err)
		return
	}
	uid, err := h.s.RedeemTicket(r.Context(), in.Ticket)
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	platform.WriteJSON(w, http.StatusOK, map[string]string{"userId": uid})
}

// stream is the live feed: server-sent events, one per notification with
// its sequence number as the event id, a heartbeat comment, and on
// reconnect (Last-Event-ID) what was missed, from the store.
func (h handlers) stream(w http.ResponseWriter, r *http.Request) {
	uid, ok := platform.SignedInUser(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	last := -1
	if id := strings.TrimSpace(r.Header.Get("Last-Event-ID")); id != "" {
		n, err := strconv.Atoi(id)
		if err != nil || n < 0 {
			platform.WriteError(w, r, platform.Invalid("Last-Event-ID", "must be the id of an event this stream sent"))
			return
		}
		last = n
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{}) // a stream outlives the server's read timeout
	_ = rc.SetWriteDeadline(time.Time{})
	wake, done := h.s.Hub.Subscribe(uid) // before reading, so nothing falls between
	defer done()
	if last < 0 { // a new stream: from now on
		n, err := h.s.Last(ctx, uid)
		if err != nil {
			platform.WriteError(w, r, err)
			return
		}
		last = n
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	// The first bytes at once: headers travel with them through daprd and
	// the gateway, whose response-header timeout would fire otherwise.
	if _, err := fmt.Fprintf(w, ": connected\nretry: 2000\n\n"); err != nil {
		return
	}
	_ = rc.Flush()
	log := platform.Logger(ctx)
	send := func() bool {
		items, _, err := h.s.Since(ctx, uid, last, h.cfg.Replay)
		if err != nil {
			log.Warn("live stream could not read the inbox", slog.String("error", err.Error()))
			return ctx.Err() == nil // try again at the next wake or beat
		}
		for _, it := range items {
			b, _ := json.Marshal(viewOf(it))
			if _, err := fmt.Fprintf(w, "id: %d\nevent: notification\ndata: %s\n\n", it.Seq, b); err != nil {
				return false
			}
			last = it.Seq
		}
		return rc.Flush() == nil
	}
	if !send() {
		return
	}
	beat := time.NewTicker(h.cfg.Heartbeat)
	defer beat.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.cfg.Closing:
			return
		case <-wake:
			if !send() {
				return
			}
		case <-beat.C:
			if _, err := fmt.Fprintf(w, ": heartbeat\n\n"); err != nil {
				return
			}
			if rc.Flush() != nil {
				return
			}
		}
	}
}

var unsubscribed = template.Must(template.New("u").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Harmonia</title></head>
<body style="font-family:Helvetica,Arial,sans-serif;max-width:480px;margin:48px auto;color:#1c1c28">
<h1 style="color:#5b3cc4">Harmonia</h1><p>{{.}}</p></body></html>`))

// unsubscribe is the link in an offer's email: no sign-in, a signed token.
func (h handlers) unsubscribe(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	if token == "" {
		platform.WriteError(w, r, platform.Invalid("token", "is required"))
		return
	}
	if err := h.s.Unsubscribe(r.Context(), token); err != nil {
		platform.WriteError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_ = unsubscribed.Execute(w, "You will no longer get offers from Harmonia. Messages about your account still reach you.")
}

func (h handlers) offer(w http.ResponseWriter, r *http.Request) {
	c, ok := platform.RequireAdmin(w, r)
	if !ok {
		return
	}
	var in struct {
		Title      string     `json:"title"`
		Body       string     `json:"body"`
		PlanID     string     `json:"planId"`
		ValidUntil *time.Time `json:"validUntil"`
	}
	if err := platform.DecodeJSON(w, r, &in); err != nil {
		platform.WriteError(w, r, err)
		return
	}
	if in.ValidUntil == nil {
		platform.WriteError(w, r, platform.Invalid("validUntil", "is required (RFC 3339)"))
		return
	}
	o, repeated, err := h.s.PublishOffer(r.Context(), c.UserID, strings.TrimSpace(r.Header.Get("Idempotency-Key")),
		domain.Offer{Title: in.Title, Body: in.Body, PlanID: in.PlanID, ValidUntil: *in.ValidUntil})
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	if repeated {
		platform.WriteJSON(w, http.StatusOK, o)
		return
	}
	platform.WriteJSON(w, http.StatusCreated, o)
}

type messageView struct {
	ID        string     `json:"id"`
	Channel   string     `json:"channel"`
	UserID    string     `json:"userId"`
	Kind      string     `json:"kind"`
	Status    string     `json:"status"`
	Attempts  int        `json:"attempts"`
	Error     string     `json:"error,omitempty"`
	CreatedAt time.Time  `json:"createdAt"`
	UpdatedAt time.Time  `json:"updatedAt"`
	SentAt    *time.Time `json:"sentAt,omitempty"`
}

func messageOf(m domain.Message) messageView {
	return messageView{ID: m.ID, Channel: m.Channel, UserID: m.UserID, Kind: m.Kind, Status: m.Status, Attempts: m.Attempts,
		Error: m.Error, CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt, SentAt: m.SentAt}
}

func (h handlers) failed(w http.ResponseWriter, r *http.Request) {
	if _, ok := platform.RequireAdmin(w, r); !ok {
		return
	}
	limit, err := platform.QueryLimit(r.URL.Query().Get("limit"), 100, 1000)
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	ms, err := h.s.Failed(r.Context(), limit)
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	out := make([]messageView, len(ms))
	for i, m := range ms {
		out[i] = messageOf(m)
	}
	platform.WriteJSON(w, http.StatusOK, map[string]any{"items": out})
}

func (h handlers) retry(w http.ResponseWriter, r *http.Request) {
	c, ok := platform.RequireAdmin(w, r)
	if !ok {
		return
	}
	m, err := h.s.Retry(r.Context(), mux.Vars(r)["id"])
	if err != nil {
		platform.WriteError(w, r, err)
		return
	}
	platform.Logger(r.Context()).Info("failed message retried", slog.String("by", c.UserID), slog.String("message", m.ID),
		slog.String("status", m.Status))
	platform.WriteJSON(w, http.StatusOK, messageOf(*m))
}
