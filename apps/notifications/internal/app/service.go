// Package app holds notifications' use cases: turning events into in-app
// notifications, emails and text messages, each recorded before it is sent
// and sent at most once, and the listener's inbox and live stream.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/harmonia-music/harmonia/apps/notifications/internal/domain"
	"github.com/harmonia-music/harmonia/apps/notifications/internal/templates"
	"github.com/harmonia-music/harmonia/internal/events"
	"github.com/harmonia-music/harmonia/internal/exports"
	"github.com/harmonia-music/harmonia/internal/platform"
	"github.com/harmonia-music/harmonia/internal/platform/audit"
	"github.com/harmonia-music/harmonia/internal/platform/state"
)

// Contacts is users, as notifications needs it.
type Contacts interface {
	// Contacts returns the listeners users knows among ids (at most
	// exports.MaxContacts); unknown or deleted ones are left out.
	Contacts(ctx context.Context, ids []string) ([]exports.Contact, error)
	// OptOut turns a listener's marketing messages off.
	OptOut(ctx context.Context, userID string) error
}

// Channels are the output bindings.
type Channels interface {
	Email(ctx context.Context, to, subject, html string) error
	SMS(ctx context.Context, to, text string, at time.Time) error
}

// Publisher publishes events.
type Publisher interface {
	Publish(ctx context.Context, e events.Event) error
}

// Plan is what a receipt says of a plan.
type Plan struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Price    int64  `json:"price"`
	Currency string `json:"currency"`
}

// Plans reads the plan catalogue (subscriptions).
type Plans interface {
	Plans(ctx context.Context) ([]Plan, error)
}

// Config tunes the service.
type Config struct {
	BaseURL          string        // the public URL links in messages start with
	LinkKey          []byte        // signs unsubscribe links
	ContactTTL       time.Duration // how long a listener's contact is cached (user.updated clears it sooner)
	ItemTTL          time.Duration // how long an in-app notification is kept
	InterruptedAfter time.Duration // a message still pending after this was interrupted (a crash mid-send)
	FanoutWorkers    int           // chunks of a fan-out delivered at once
	// JobDone, when set, hears of every finished fan-out (metrics).
	JobDone func(job domain.Job, took time.Duration)
	// Sent, when set, hears of every message's outcome (metrics).
	Sent func(channel, status string)
}

// Service implements notifications' use cases.
type Service struct {
	// Audit records user and money actions for the audit log (nil: none).
	Audit    *audit.Recorder
	kv       state.KV
	inbox    state.Repo[domain.Inbox]
	items    state.Repo[domain.Item]
	msgs     state.Repo[domain.Message]
	open     state.Repo[domain.Open]
	members  state.Repo[domain.Members]
	follows  state.Repo[followed]
	jobs     state.Repo[domain.Job]
	jobList  state.Repo[domain.Jobs]
	offers   state.Repo[domain.Offer]
	tickets  state.Repo[ticket]
	contacts Contacts
	channels Channels
	pub      Publisher
	plans    Plans
	mail     *templates.Mail
	Hub      *Hub
	cache    *contactCache
	planMu   sync.Mutex
	planList []Plan
	planAt   time.Time
	cfg      Config
	now      func() time.Time
	wakeJobs chan struct{}
	id       string // this process, as the owner of fan-out leases
}

// JobTTL is how long a fan-out's record is kept, finished or not: the same
// event redelivered within it starts nothing.
const JobTTL = 30 * 24 * time.Hour

// followed lists the artists a listener follows, as notifications heard it
// (so a deleted account leaves every follower list).
type followed struct {
	ArtistIDs []string `json:"artistIds"`
}

// New wires the service.
func New(kv state.KV, contacts Contacts, channels Channels, pub Publisher, plans Plans, cfg Config, now func() time.Time) (*Service, error) {
	if now == nil {
		now = time.Now
	}
	if len(cfg.LinkKey) < 16 {
		return nil, errors.New("notifications needs a link key of at least 16 bytes")
	}
	if cfg.ContactTTL == 0 {
		cfg.ContactTTL = 5 * time.Minute
	}
	if cfg.ItemTTL == 0 {
		cfg.ItemTTL = 90 * 24 * time.Hour
	}
	if cfg.InterruptedAfter == 0 {
		cfg.InterruptedAfter = 2 * time.Minute
	}
	if cfg.FanoutWorkers == 0 {
		cfg.FanoutWorkers = 4
	}
	mail, err := templates.Load()
	if err != nil {
		return nil, err
	}
	return &Service{
		kv:       kv,
		inbox:    state.Repo[domain.Inbox]{KV: kv, Prefix: "inbox|"},
		items:    state.Repo[domain.Item]{KV: kv, Prefix: "item|", NotFound: domain.ErrNotificationNotFound, TTL: cfg.ItemTTL},
		msgs:     state.Repo[domain.Message]{KV: kv, Prefix: "msg|", NotFound: domain.ErrMessageNotFound},
		open:     state.Repo[domain.Open]{KV: kv, Prefix: "open|"},
		members:  state.Repo[domain.Members]{KV: kv, Prefix: "members|"},
		follows:  state.Repo[followed]{KV: kv, Prefix: "follows|"},
		jobs:     state.Repo[domain.Job]{KV: kv, Prefix: "job|", TTL: JobTTL},
		jobList:  state.Repo[domain.Jobs]{KV: kv, Prefix: "jobs|"},
		offers:   state.Repo[domain.Offer]{KV: kv, Prefix: "offer|"},
		tickets:  state.Repo[ticket]{KV: kv, Prefix: "ticket|", TTL: TicketTTL},
		contacts: contacts, channels: channels, pub: pub, plans: plans, mail: mail,
		Hub:   NewHub(),
		cache: newContactCache(cfg.ContactTTL, now),
		cfg:   cfg, now: now,
		wakeJobs: make(chan struct{}, 1),
		id:       uuid.NewString(),
	}, nil
}

// --- delivery -------------------------------------------------------------

// Deliver tells listeners one notice: in-app (one transaction for the
// batch), then each email and text message, recorded before it is sent. It
// is safe to run again for the same notice: nothing is added or sent twice.
// It returns how many listeners it reached. An error means it should run
// again (the event is redelivered, the fan-out chunk retried).
func (s *Service) Deliver(ctx context.Context, users []string, n domain.Notice) (int, error) {
	return s.deliver(ctx, users, n, true)
}

// deliver is Deliver; keep says whether contacts read from users are
// cached (a fan-out's are not: a hundred thousand listeners read once
// would only crowd out the ones that are read again).
func (s *Service) deliver(ctx context.Context, users []string, n domain.Notice, keep bool) (int, error) {
	reached := 0
	for start := 0; start < len(users); start += exports.MaxContacts {
		batch := users[start:min(start+exports.MaxContacts, len(users))]
		got, err := s.contactsOf(ctx, batch, keep)
		if err != nil {
			return reached, err
		}
		var inApp []string
		var out []outgoing
		for _, u := range batch {
			c, ok := got[u]
			if !ok {
				continue // unknown to users: deleted meanwhile
			}
			if n.Marketing && !c.MarketingOptIn {
				continue // opted out since the audience was read
			}
			reached++
			if n.InApp && c.Channels.InApp {
				inApp = append(inApp, u)
			}
			if wantsEmail(n.Email, c) && c.Email != "" {
				out = append(out, outgoing{msg: s.message(n, u, domain.ChannelEmail), contact: c})
			}
			if n.SMS && c.Channels.SMS && c.Phone != "" {
				out = append(out, outgoing{msg: s.message(n, u, domain.ChannelSMS), contact: c})
			}
		}
		if len(inApp) > 0 {
			if err := s.addInApp(ctx, inApp, n); err != nil {
				return reached, err
			}
		}
		for _, o := range out {
			if err := s.dispatch(ctx, o.msg, o.contact); err != nil {
				return reached, err
			}
		}
	}
	return reached, nil
}

type outgoing struct {
	msg     domain.Message
	contact exports.Contact
}

func wantsEmail(rule domain.EmailRule, c exports.Contact) bool {
	switch rule {
	case domain.EmailAlways:
		return true
	case domain.EmailIfEnabled:
		return c.Channels.Email
	case domain.EmailMarketing:
		return c.Channels.Email && c.MarketingOptIn
	}
	return false
}

func (s *Service) message(n domain.Notice, user, channel string) domain.Message {
	now := s.now().UTC()
	return domain.Message{ID: domain.MessageID(n.Source, user, channel), Channel: channel, UserID: user, Kind: n.Kind,
		Params: n.Params, Status: domain.StatusPending, CreatedAt: now, UpdatedAt: now}
}

// addInApp appends n to each listener's inbox in one transaction (a source
// an inbox already holds is skipped), then wakes their live streams.
func (s *Service) addInApp(ctx context.Context, users []string, n domain.Notice) error {
	var added []string
	err := state.Transact(ctx, s.kv, func(tx *state.Tx) error {
		added = added[:0]
		heads, err := s.inbox.ReadMany(ctx, tx, users)
		if err != nil {
			return err
		}
		now := s.now().UTC()
		for _, u := range users {
			b := heads[u]
			if b == nil {
				b = &domain.Inbox{}
			}
			seq, ok := b.Add(n.Source)
			if !ok {
				continue
			}
			if err := s.inbox.Write(tx, u, b); err != nil {
				return err
			}
			it := domain.Item{ID: domain.ItemID(seq, n.Source), Seq: seq, Kind: n.Kind, Title: n.Title, Body: n.Body,
				Link: n.Link, CreatedAt: now}
			if err := s.items.Write(tx, itemKey(u, seq), &it); err != nil {
				return err
			}
			added = append(added, u)
		}
		return nil
	})
	if err != nil || len(added) == 0 {
		return err
	}
	s.Hub.Wake(added...)
	// Other replicas hold streams too: tell them (best effort; a stream
	// that misses it catches up at its next wake or reconnect).
	if err := s.pub.Publish(ctx, events.NotificationsDelivered{UserIDs: added, Origin: s.id}); err != nil {
		platform.Logger(ctx).Warn("live broadcast not published", slog.String("error", err.Error()))
	}
	return nil
}

func itemKey(user string, seq int) string { return user + "|" + strconv.Itoa(seq) }

// errRecorded: a message with this id exists (sent, failed or in flight).
var errRecorded = errors.New("message already recorded")

// dispatch records m (with its open-list entry, in one transaction) and
// sends it; a message already recorded is left as it is, which is what
// makes a redelivered event send nothing twice.
func (s *Service) dispatch(ctx context.Context, m domain.Message, c exports.Contact) error {
	shard := strconv.Itoa(domain.Shard(m.ID, domain.OpenShards))
	err := state.Transact(ctx, s.kv, func(tx *state.Tx) error {
		if _, err := s.msgs.Read(ctx, tx, m.ID); err == nil {
			return errRecorded
		} else if !errors.Is(err, domain.ErrMessageNotFound) {
			return err
		}
		o, err := s.open.ReadOrNew(ctx, tx, shard)
		if err != nil {
			return err
		}
		o.IDs = append(o.IDs, m.ID)
		if err := s.msgs.Write(tx, m.ID, &m); err != nil {
			return err
		}
		return s.open.Write(tx, shard, o)
	})
	if errors.Is(err, errRecorded) {
		return nil
	}
	if err != nil {
		return err
	}
	return s.send(ctx, m, c)
}

// send hands m to its channel and records the outcome: sent (and off the
// open list), or failed with the channel's error (after the resiliency
// policy's retries) for an administrator to retry.
func (s *Service) send(ctx context.Context, m domain.Message, c exports.Contact) error {
	sendErr := s.deliverOn(ctx, m, c)
	now := s.now().UTC()
	shard := strconv.Itoa(domain.Shard(m.ID, domain.OpenShards))
	err := state.Transact(ctx, s.kv, func(tx *state.Tx) error {
		cur, err := s.msgs.Read(ctx, tx, m.ID)
		if err != nil {
			return err
		}
		cur.Attempts++
		cur.UpdatedAt = now
		if sendErr != nil {
			cur.Status, cur.Error = domain.StatusFailed, sendErr.Error()
			return s.msgs.Write(tx, m.ID, cur)
		}
		cur.Status, cur.Error, cur.SentAt = domain.StatusSent, "", &now
		if err := s.msgs.Write(tx, m.ID, cur); err != nil {
			return err
		}
		o, err := s.open.ReadOrNew(ctx, tx, shard)
		if err != nil {
			return err
		}
		if i := slices.Index(o.IDs, m.ID); i >= 0 {
			o.IDs = slices.Delete(o.IDs, i, i+1)
			return s.open.Write(tx, shard, o)
		}
		return nil
	})
	if s.cfg.Sent != nil {
		status := domain.StatusSent
		if sendErr != nil {
			status = domain.StatusFailed
		}
		s.cfg.Sent(m.Channel, status)
	}
	log := platform.Logger(ctx).With(slog.String("message", m.ID), slog.String("channel", m.Channel), slog.String("kind", m.Kind))
	if sendErr != nil {
		log.Warn("message failed; recorded for an administrator to retry", slog.String("error", sendErr.Error()))
	}
	if err != nil {
		// Sent (or failed) but not recorded: it stays pending and the sweep
		// reports it as interrupted rather than send it again.
		log.Error("message outcome not recorded", slog.String("error", err.Error()))
	}
	return nil
}

func (s *Service) deliverOn(ctx context.Context, m domain.Message, c exports.Contact) error {
	switch m.Channel {
	case domain.ChannelEmail:
		d := templates.Data{Name: c.DisplayName, BaseURL: s.cfg.BaseURL, P: m.Params}
		if m.Kind == domain.KindOffer {
			d.UnsubscribeURL = s.UnsubscribeURL(m.UserID)
		}
		subject, body, err := s.mail.Render(m.Kind, d)
		if err != nil {
			return err
		}
		return s.channels.Email(ctx, templates.Recipient(c.DisplayName, c.Email), subject, body)
	case domain.ChannelSMS:
		text, err := templates.SMS(m.Kind, m.Params)
		if err != nil {
			return err
		}
		return s.channels.SMS(ctx, c.Phone, text, s.now().UTC())
	}
	return fmt.Errorf("unknown channel %q", m.Channel)
}

// --- contacts -------------------------------------------------------------

// contactsOf returns the contacts users knows among ids, from the cache
// where it can.
func (s *Service) contactsOf(ctx context.Context, ids []string, keep bool) (map[string]exports.Contact, error) {
	out, missing := s.cache.lookup(ids)
	for start := 0; start < len(missing); start += exports.MaxContacts {
		batch := missing[start:min(start+exports.MaxContacts, len(missing))]
		got, err := s.contacts.Contacts(ctx, batch)
		if err != nil {
			return nil, err
		}
		for _, c := range got {
			out[c.UserID] = c
			if keep {
				s.cache.put(c)
			}
		}
	}
	return out, nil
}

// ForgetContact drops a cached contact (user.updated, user.deleted).
func (s *Service) ForgetContact(userID string) { s.cache.drop(userID) }

type contactCache struct {
	mu  sync.Mutex
	ttl time.Duration
	now func() time.Time
	m   map[string]cachedContact
}

type cachedContact struct {
	c  exports.Contact
	at time.Time
}

// maxCachedContacts bounds the cache; past it, it starts over.
const maxCachedContacts = 200_000

func newContactCache(ttl time.Duration, now func() time.Time) *contactCache {
	return &contactCache{ttl: ttl, now: now, m: map[string]cachedContact{}}
}

func (c *contactCache) lookup(ids []string) (map[string]exports.Contact, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	out := make(map[string]exports.Contact, len(ids))
	var missing []string
	for _, id := range ids {
		if e, ok := c.m[id]; ok && now.Sub(e.at) < c.ttl {
			out[id] = e.c
			continue
		}
		missing = append(missing, id)
	}
	return out, missing
}

func (c *contactCache) put(ct exports.Contact) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxCachedContacts {
		c.m = map[string]cachedContact{}
	}
	c.m[ct.UserID] = cachedContact{c: ct, at: c.now()}
}

func (c *contactCache) drop(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, id)
}

// --- plans ----------------------------------------------------------------

// plan names a plan for a receipt, from a cached catalogue.
func (s *Service) plan(ctx context.Context, id string) Plan {
	s.planMu.Lock()
	defer s.planMu.Unlock()
	if s.planList == nil || s.now().Sub(s.planAt) > 5*time.Minute {
		if ps, err := s.plans.Plans(ctx); err == nil {
			s.planList, s.planAt = ps, s.now()
		} else {
			platform.Logger(ctx).Warn("plans unavailable; the receipt names the plan by id", slog.String("error", err.Error()))
		}
	}
	for _, p := range s.planList {
		if p.ID == id {
			return p
		}
	}
	return Plan{ID: id, Name: id}
}

// Money formats an amount in minor units, e.g. "9.99 EUR".
func Money(amount int64, currency string) string {
	sign := ""
	if amount < 0 {
		sign, amount = "-", -amount
	}
	return fmt.Sprintf("%s%d.%02d %s", sign, amount/100, amount%100, currency)
}
