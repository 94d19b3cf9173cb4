package app

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/harmonia-music/harmonia/apps/notifications/internal/domain"
	"github.com/harmonia-music/harmonia/internal/events"
	"github.com/harmonia-music/harmonia/internal/platform/audit"
	"github.com/harmonia-music/harmonia/internal/platform/fault"
	"github.com/harmonia-music/harmonia/internal/platform/state"
)

// --- the inbox ------------------------------------------------------------

// Page is one page of a listener's notifications, newest first.
type Page struct {
	Items      []domain.Item
	NextCursor string
	Unread     int
}

// MaxPage bounds a page.
const MaxPage = 100

// List returns the caller's notifications, newest first, from before the
// cursor (a sequence number); unreadOnly leaves read ones out.
func (s *Service) List(ctx context.Context, userID string, unreadOnly bool, limit int, cursor string) (Page, error) {
	head, err := s.inbox.Get(ctx, userID)
	if errors.Is(err, state.ErrNotFound) {
		return Page{Items: []domain.Item{}}, nil
	}
	if err != nil {
		return Page{}, err
	}
	from := head.Last
	if cursor != "" {
		c, err := strconv.Atoi(cursor)
		if err != nil || c < 1 {
			return Page{}, fault.Invalid("cursor", "must be a cursor from an earlier page")
		}
		from = min(c-1, head.Last)
	}
	out := Page{Items: []domain.Item{}, Unread: max(head.Unread, 0)}
	// Walk back in batches; unread-only pages may need several.
	seq := from
	for seq >= 1 && len(out.Items) < limit {
		lo := max(1, seq-limit+1)
		if unreadOnly && lo <= head.ReadUpTo {
			lo = head.ReadUpTo + 1
			if lo > seq {
				break
			}
		}
		ids := make([]string, 0, seq-lo+1)
		for q := seq; q >= lo; q-- {
			ids = append(ids, itemKey(userID, q))
		}
		got, err := s.items.GetMany(ctx, ids)
		if err != nil {
			return Page{}, err
		}
		if len(got) == 0 {
			break // older ones expired
		}
		slices.SortFunc(got, func(a, b *domain.Item) int { return b.Seq - a.Seq })
		for _, it := range got {
			if unreadOnly && it.IsRead(*head) {
				continue
			}
			if it.ReadAt == nil && it.Seq <= head.ReadUpTo {
				it.ReadAt = head.ReadAllAt // read by read-all
			}
			out.Items = append(out.Items, *it)
			if len(out.Items) == limit {
				break
			}
		}
		seq = lo - 1
	}
	if n := len(out.Items); n == limit && out.Items[n-1].Seq > 1 {
		out.NextCursor = strconv.Itoa(out.Items[n-1].Seq)
	}
	return out, nil
}

// Since returns the caller's notifications after seq, oldest first, at most
// limit (the newest ones when more were missed): what a live stream sends.
func (s *Service) Since(ctx context.Context, userID string, seq, limit int) ([]domain.Item, int, error) {
	head, err := s.inbox.Get(ctx, userID)
	if errors.Is(err, state.ErrNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	if seq >= head.Last {
		return nil, head.Last, nil
	}
	lo := max(seq+1, head.Last-limit+1)
	ids := make([]string, 0, head.Last-lo+1)
	for q := lo; q <= head.Last; q++ {
		ids = append(ids, itemKey(userID, q))
	}
	got, err := s.items.GetMany(ctx, ids)
	if err != nil {
		return nil, 0, err
	}
	out := make([]domain.Item, 0, len(got))
	for _, it := range got {
		out = append(out, *it)
	}
	slices.SortFunc(out, func(a, b domain.Item) int { return a.Seq - b.Seq })
	return out, head.Last, nil
}

// Last is the caller's newest sequence number (0 when none).
func (s *Service) Last(ctx context.Context, userID string) (int, error) {
	head, err := s.inbox.Get(ctx, userID)
	if errors.Is(err, state.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return head.Last, nil
}

// MarkRead marks one of the caller's notifications read; again is a no-op.
func (s *Service) MarkRead(ctx context.Context, userID, id string) (*domain.Item, error) {
	seq, ok := domain.SeqOf(id)
	if !ok {
		return nil, fault.Invalid("id", "is not a notification id")
	}
	var out *domain.Item
	err := state.Transact(ctx, s.kv, func(tx *state.Tx) error {
		it, err := s.items.Read(ctx, tx, itemKey(userID, seq))
		if err != nil {
			return err
		}
		if it.ID != id {
			return domain.ErrNotificationNotFound
		}
		head, err := s.inbox.Read(ctx, tx, userID)
		if err != nil {
			return err
		}
		out = it
		if it.IsRead(*head) {
			return nil
		}
		now := s.now().UTC()
		it.ReadAt = &now
		head.Unread = max(head.Unread-1, 0)
		if err := s.items.Write(tx, itemKey(userID, seq), it); err != nil {
			return err
		}
		return s.inbox.Write(tx, userID, head)
	})
	if errors.Is(err, state.ErrNotFound) {
		return nil, domain.ErrNotificationNotFound
	}
	return out, err
}

// ReadAll marks every notification of the caller read.
func (s *Service) ReadAll(ctx context.Context, userID string) error {
	now := s.now().UTC()
	_, err := s.inbox.Update(ctx, userID, func(b *domain.Inbox) error {
		if b.Unread == 0 && b.ReadUpTo == b.Last {
			return nil // nothing new: keep the time of the read that did it
		}
		b.ReadUpTo, b.Unread, b.ReadAllAt = b.Last, 0, &now
		return nil
	})
	if errors.Is(err, state.ErrNotFound) {
		return nil
	}
	return err
}

// --- live streams ---------------------------------------------------------

// Hub wakes the live streams of listeners when their inbox grows.
type Hub struct {
	mu    sync.Mutex
	conns map[string]map[chan struct{}]struct{}
}

// NewHub returns an empty hub.
func NewHub() *Hub { return &Hub{conns: map[string]map[chan struct{}]struct{}{}} }

// Subscribe returns a channel woken on new notifications for user, and a
// function that ends the subscription.
func (h *Hub) Subscribe(user string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	h.mu.Lock()
	if h.conns[user] == nil {
		h.conns[user] = map[chan struct{}]struct{}{}
	}
	h.conns[user][ch] = struct{}{}
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		delete(h.conns[user], ch)
		if len(h.conns[user]) == 0 {
			delete(h.conns, user)
		}
	}
}

// Wake wakes every stream of these listeners (a stream already woken stays so).
func (h *Hub) Wake(users ...string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, u := range users {
		for ch := range h.conns[u] {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
}

// Streams counts the open streams.
func (h *Hub) Streams() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, m := range h.conns {
		n += len(m)
	}
	return n
}

// Delivered is a replica's broadcast: wake the streams held here, unless
// this replica sent it (it woke them when it delivered).
func (s *Service) Delivered(e events.NotificationsDelivered) {
	if e.Origin != s.id {
		s.Hub.Wake(e.UserIDs...)
	}
}

// ticket is a single-use pass to open a live stream without a header (a
// browser's EventSource cannot send one).
type ticket struct {
	UserID string `json:"userId"`
}

// TicketTTL is how long a stream ticket may wait to be used.
const TicketTTL = 60 * time.Second

// ErrBadTicket refuses an unknown, used or expired ticket.
var ErrBadTicket = fault.E(fault.KindUnauthenticated, "invalid-ticket", "the stream ticket is unknown, used or expired; ask for a new one")

// IssueTicket gives the caller a stream ticket. Only its hash is stored.
func (s *Service) IssueTicket(ctx context.Context, userID string) (string, time.Time, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", time.Time{}, err
	}
	t := base64.RawURLEncoding.EncodeToString(b)
	if err := s.tickets.Create(ctx, ticketKey(t), &ticket{UserID: userID}); err != nil {
		return "", time.Time{}, err
	}
	return t, s.now().Add(TicketTTL).UTC(), nil
}

// RedeemTicket uses a ticket up and names its listener; a second use, or
// two at once, fails.
func (s *Service) RedeemTicket(ctx context.Context, t string) (string, error) {
	if t == "" || len(t) > 100 {
		return "", ErrBadTicket
	}
	var user string
	err := state.Transact(ctx, s.kv, func(tx *state.Tx) error {
		tk, err := s.tickets.Read(ctx, tx, ticketKey(t))
		if err != nil {
			return err
		}
		user = tk.UserID
		s.tickets.Remove(tx, ticketKey(t))
		return nil
	})
	if errors.Is(err, state.ErrNotFound) || errors.Is(err, state.ErrConflict) {
		return "", ErrBadTicket
	}
	return user, err
}

func ticketKey(t string) string {
	h := sha256.Sum256([]byte(t))
	return hex.EncodeToString(h[:])
}

// --- unsubscribe ----------------------------------------------------------

// UnsubscribeURL is the link in a marketing email that turns offers off.
func (s *Service) UnsubscribeURL(userID string) string {
	return strings.TrimRight(s.cfg.BaseURL, "/") + "/api/v1/notifications/unsubscribe?token=" + url.QueryEscape(s.unsubscribeToken(userID))
}

func (s *Service) unsubscribeToken(userID string) string {
	m := hmac.New(sha256.New, s.cfg.LinkKey)
	m.Write([]byte("unsubscribe-marketing|" + userID))
	return base64.RawURLEncoding.EncodeToString([]byte(userID)) + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

// ErrBadLink refuses an unsubscribe token that was not ours.
var ErrBadLink = fault.Invalid("token", "is not a valid unsubscribe link; use the one in the email, or change your preferences in the app")

// Unsubscribe checks an unsubscribe token and turns the listener's offers off.
func (s *Service) Unsubscribe(ctx context.Context, token string) error {
	id, _, ok := strings.Cut(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(id)
	if !ok || err != nil || !hmac.Equal([]byte(s.unsubscribeToken(string(raw))), []byte(token)) {
		return ErrBadLink
	}
	user := string(raw)
	if err := s.contacts.OptOut(ctx, user); err != nil {
		if fault.IsNotFound(err) {
			return nil // the account is gone: nothing more will be sent
		}
		return err
	}
	s.ForgetContact(user)
	return nil
}

// --- offers ---------------------------------------------------------------

// ErrOfferKeyReused refuses an Idempotency-Key sent again with another offer.
var ErrOfferKeyReused = fault.E(fault.KindConflict, "idempotency-key-reused",
	"this Idempotency-Key was used for another offer; use a new key")

// PublishOffer records an offer and announces it (the outbox: the record and
// offer.published commit together). With an idempotency key, the same
// request sent again (a retry after a lost answer) returns the first offer
// and announces nothing (repeated reports false for the first).
func (s *Service) PublishOffer(ctx context.Context, admin, key string, o domain.Offer) (out *domain.Offer, repeated bool, err error) {
	now := s.now().UTC()
	if len(key) > 200 {
		return nil, false, fault.Invalid("Idempotency-Key", "must be at most 200 characters")
	}
	if err := domain.CheckOffer(o.Title, o.Body, o.PlanID, &o.ValidUntil, now); err != nil {
		return nil, false, err
	}
	o.ID, o.PublishedAt, o.PublishedBy = uuid.NewString(), now, admin
	if key != "" {
		o.ID = uuid.NewSHA1(offerKeys, []byte(admin+"|"+key)).String()
	}
	o.Title, o.Body, o.ValidUntil = strings.TrimSpace(o.Title), strings.TrimSpace(o.Body), o.ValidUntil.UTC()
	err = state.Transact(ctx, s.kv, func(tx *state.Tx) error {
		if _, err := s.offers.Read(ctx, tx, o.ID); err == nil {
			return errRecorded
		} else if !errors.Is(err, state.ErrNotFound) {
			return err
		}
		if err := s.offers.Write(tx, o.ID, &o); err != nil { // insert-only: read as absent
			return err
		}
		tx.Announce(state.Announce(events.OfferPublished{OfferID: o.ID, Title: o.Title, Body: o.Body, PlanID: o.PlanID,
			ValidUntil: o.ValidUntil, PublishedAt: now}))
		return nil
	})
	if errors.Is(err, errRecorded) {
		first, err := s.offers.Get(ctx, o.ID)
		if err != nil {
			return nil, false, err
		}
		if first.Title != o.Title || first.Body != o.Body || first.PlanID != o.PlanID || !first.ValidUntil.Equal(o.ValidUntil) {
			return nil, false, ErrOfferKeyReused
		}
		return first, true, nil
	}
	if err != nil {
		return nil, false, err
	}
	s.Audit.Record(ctx, audit.Record{Actor: admin, Action: "admin.offer.published", Subject: audit.Subject{Type: "offer", ID: o.ID},
		Details: map[string]string{"title": o.Title, "planId": o.PlanID, "validUntil": o.ValidUntil.Format(time.RFC3339)}})
	return &o, false, nil
}

// offerKeys namespaces offer ids made from idempotency keys.
var offerKeys = uuid.MustParse("6f1f6c52-3c1e-4a8e-9d0b-2a7f3e0c9b11")

// --- failed messages ------------------------------------------------------

// openMessages reads every message not yet sent.
func (s *Service) openMessages(ctx context.Context) ([]*domain.Message, error) {
	ids := make([]string, domain.OpenShards)
	for i := range ids {
		ids[i] = strconv.Itoa(i)
	}
	lists, err := s.open.GetMany(ctx, ids)
	if err != nil {
		return nil, err
	}
	var all []string
	for _, l := range lists {
		all = append(all, l.IDs...)
	}
	var out []*domain.Message
	for start := 0; start < len(all); start += 500 {
		got, err := s.msgs.GetMany(ctx, all[start:min(start+500, len(all))])
		if err != nil {
			return nil, err
		}
		out = append(out, got...)
	}
	return out, nil
}

// Failed lists the failed messages, newest first, at most limit.
func (s *Service) Failed(ctx context.Context, limit int) ([]domain.Message, error) {
	open, err := s.openMessages(ctx)
	if err != nil {
		return nil, err
	}
	out := []domain.Message{}
	for _, m := range open {
		if m.Status == domain.StatusFailed {
			out = append(out, *m)
		}
	}
	slices.SortFunc(out, func(a, b domain.Message) int { return b.UpdatedAt.Compare(a.UpdatedAt) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// Retry sends a failed message again. It is claimed first (failed →
// pending, guarded by its ETag), so two retries at once send it once.
func (s *Service) Retry(ctx context.Context, id string) (*domain.Message, error) {
	m, err := s.msgs.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if m.Status != domain.StatusFailed {
		return nil, domain.ErrNotFailed
	}
	got, err := s.contacts.Contacts(ctx, []string{m.UserID})
	if err != nil {
		return nil, err
	}
	if len(got) == 0 {
		return nil, fault.E(fault.KindConflict, "listener-gone", "the listener's account no longer exists; nothing to send")
	}
	claimed, err := s.msgs.Update(ctx, id, func(cur *domain.Message) error {
		if cur.Status != domain.StatusFailed {
			return domain.ErrNotFailed
		}
		cur.Status, cur.UpdatedAt = domain.StatusPending, s.now().UTC()
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := s.send(ctx, *claimed, got[0]); err != nil {
		return nil, err
	}
	return s.msgs.Get(ctx, id)
}

// Sweep marks messages left pending by an interrupted send (a crash between
// recording and the channel's answer) as failed, so an administrator sees
// them; they are never sent again on their own, which could double them.
func (s *Service) Sweep(ctx context.Context) (int, error) {
	open, err := s.openMessages(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	cutoff := s.now().Add(-s.cfg.InterruptedAfter)
	for _, m := range open {
		if m.Status != domain.StatusPending || m.UpdatedAt.After(cutoff) {
			continue
		}
		_, err := s.msgs.Update(ctx, m.ID, func(cur *domain.Message) error {
			if cur.Status != domain.StatusPending || cur.UpdatedAt.After(cutoff) {
				return errRecorded
			}
			cur.Status, cur.UpdatedAt = domain.StatusFailed, s.now().UTC()
			cur.Error = "interrupted before the channel answered: it may or may not have gone out"
			return nil
		})
		if errors.Is(err, errRecorded) {
			continue
		}
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
