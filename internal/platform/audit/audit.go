// Package audit is how every service records a user or money action for the
// audit log: one call, Recorder.Record, that builds the audit.recorded event,
// strips it of personal data before it leaves the process, and publishes it.
//
// What may leave is decided here, not by the caller: each action has an
// allow-list of detail keys (Policies); any other key is dropped, keys that
// name secrets are dropped even when listed, and the values that remain are
// scrubbed: card numbers, CVCs, tokens and keys are removed, emails, phone
// numbers and street addresses are replaced by placeholders ([email],
// [phone], [address]). Identifiers of people travel as ids (the actor, a
// subject of type "user", and the detail keys a policy marks as People); the
// logging service stores them only as HMACs under a per-person salt, and
// forgets the salt when the person deletes their account.
//
// Recording never fails the caller's request: the action already happened.
// A publish that fails (after the sidecar's own retries) goes to a bounded
// queue that a goroutine publishes again, with back-off, until the broker
// takes it; each record carries its own id, so one sent twice is written
// once. What the queue cannot hold, or a record that has no policy, is
// logged and counted (Recorder.Failed). A crash loses what is queued.
package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/harmonia-music/harmonia/internal/events"
	"github.com/harmonia-music/harmonia/internal/platform"
	"github.com/harmonia-music/harmonia/internal/platform/pubsub"
)

// Actors that are not a person.
const (
	System    = "system"    // the service itself (a renewal, a sweep)
	Anonymous = "anonymous" // nobody signed in (a failed sign-in for an unknown account)
)

// Outcomes.
const (
	Success = "success"
	Failure = "failure"
	Denied  = "denied"
)

// Subject is what an action was done to.
type Subject struct {
	Type string
	ID   string
}

// Record is one action to record.
type Record struct {
	// Actor is the user id who acted, System or Anonymous; empty means the
	// signed-in caller of the request (or Anonymous).
	Actor   string
	Action  string
	Subject Subject
	Outcome string // Success when empty
	Details map[string]string
}

// Policy is what an action may carry.
type Policy struct {
	Subject string   // the subject type the action is about ("" for none)
	Details []string // detail keys allowed to leave the service
	People  []string // detail keys holding a person's id (pseudonymised by logging)
}

// Policies is the allow-list of every action any service records. An
// action not listed is refused (logged and counted), so adding one is a
// reviewed change here.
var Policies = map[string]Policy{
	"auth.registered":      {Subject: "user"},
	"auth.login.succeeded": {Subject: "user"},
	"auth.login.failed":    {Subject: "user", Details: []string{"reason"}},
	"auth.logout":          {Subject: "user"},
	"auth.refresh.reused":  {Subject: "user"},
	"auth.role.granted":    {Subject: "user", Details: []string{"role"}},
	"auth.role.revoked":    {Subject: "user", Details: []string{"role"}},
	"auth.key.rotated":     {Subject: "signing-key", Details: []string{"retired"}},

	"user.updated": {Subject: "user", Details: []string{"fields"}},
	"user.deleted": {Subject: "user"},

	"playlist.deleted": {Subject: "playlist", Details: []string{"name", "tracks"}},

	"album.published":       {Subject: "album", Details: []string{"title", "artistId", "tracks"}},
	"catalog.imported":      {Subject: "catalog", Details: []string{"artists", "albums", "tracks"}},
	"admin.offer.published": {Subject: "offer", Details: []string{"title", "planId", "validUntil"}},

	"payment.method.added":   {Subject: "payment-method", Details: []string{"brand"}},
	"payment.method.removed": {Subject: "payment-method"},
	"payment.charged":        {Subject: "payment", Details: []string{"amount", "currency", "subscriptionId", "reason"}},
	"payment.refunded":       {Subject: "payment", Details: []string{"amount", "currency", "subscriptionId"}},

	"subscription.created":          {Subject: "subscription", Details: []string{"planId"}},
	"subscription.activated":        {Subject: "subscription", Details: []string{"planId", "validUntil"}},
	"subscription.renewed":          {Subject: "subscription", Details: []string{"planId", "cycle", "validUntil"}},
	"subscription.payment_failed":   {Subject: "subscription", Details: []string{"planId", "reason"}},
	"subscription.cancel_requested": {Subject: "subscription", Details: []string{"planId", "endsAt"}},
	"subscription.cancelled":        {Subject: "subscription", Details: []string{"planId"}},
	"subscription.expired":          {Subject: "subscription", Details: []string{"planId"}},
	"subscription.member.removed":   {Subject: "subscription", Details: []string{"memberId"}, People: []string{"memberId"}},

	"admin.audit.read":     {Details: []string{"actor", "action", "filters", "from", "to"}, People: []string{"actor"}},
	"admin.audit.verified": {Details: []string{"ok", "entries", "from", "to"}},
}

// ErrPolicy means an action has no policy, or a subject of the wrong type.
var ErrPolicy = errors.New("audit policy")

// Publisher is the port the recorder publishes through.
type Publisher interface {
	Publish(ctx context.Context, e events.Event) error
}

// Recorder publishes audit.recorded events. A nil *Recorder records nothing
// (unit tests of code that records).
type Recorder struct {
	pub    *pubsub.Retrying
	now    func() time.Time
	failed atomic.Int64
}

// QueueSize bounds the records waiting to be published again.
const QueueSize = pubsub.RetryQueueSize

// New makes a recorder that publishes through pub, and again later what the
// broker refused (pubsub.Retrying).
func New(pub Publisher) *Recorder {
	return &Recorder{pub: pubsub.NewRetrying(pub), now: time.Now}
}

// Pending is how many records wait to be published again.
func (r *Recorder) Pending() int {
	if r == nil {
		return 0
	}
	return r.pub.Pending()
}

// Failed counts records that could not be built or published.
func (r *Recorder) Failed() int64 {
	if r == nil {
		return 0
	}
	return r.failed.Load()
}

// Record publishes rec. It waits for the publish (the broker then holds the
// event) but never fails the caller: a record the broker refuses is queued
// and published again; one that cannot be built, or that the full queue
// cannot hold, is logged and counted.
func (r *Recorder) Record(ctx context.Context, rec Record) {
	if r == nil {
		return
	}
	e, err := Build(ctx, rec, r.now())
	if err != nil {
		r.failed.Add(1)
		platform.Logger(ctx).Error("audit record refused", slog.String("action", rec.Action), slog.String("error", err.Error()))
		return
	}
	if err := r.pub.Publish(ctx, e); err != nil {
		r.failed.Add(1)
		platform.Logger(ctx).Error("audit record lost: the retry queue is full", slog.String("action", rec.Action), slog.String("error", err.Error()))
	}
}

// Build makes the event of rec: the policy applied, details scrubbed, the
// request and trace ids of ctx attached.
func Build(ctx context.Context, rec Record, at time.Time) (events.AuditRecorded, error) {
	p, ok := Policies[rec.Action]
	if !ok {
		return events.AuditRecorded{}, fmt.Errorf("%w: no policy for action %q", ErrPolicy, rec.Action)
	}
	if rec.Subject.Type != "" && rec.Subject.Type != p.Subject {
		return events.AuditRecorded{}, fmt.Errorf("%w: %s is about %q, not %q", ErrPolicy, rec.Action, p.Subject, rec.Subject.Type)
	}
	actor := rec.Actor
	if actor == "" {
		actor = Anonymous
		if c, ok := platform.CallerFrom(ctx); ok {
			actor = c.UserID
		}
	}
	outcome := rec.Outcome
	if outcome == "" {
		outcome = Success
	}
	e := events.AuditRecorded{
		RecordID: uuid.Must(uuid.NewV7()).String(),
		Actor:    clip(actor, 64), Action: rec.Action, Outcome: clip(outcome, 32),
		RequestID: platform.RequestID(ctx), TraceID: platform.TraceID(ctx), At: at.UTC(),
		Details: Scrub(p, rec.Details),
	}
	if rec.Subject.ID != "" {
		e.SubjectType, e.SubjectID = p.Subject, clip(rec.Subject.ID, 128)
	}
	return e, events.Validate(e)
}

// Scrub applies a policy to details: only allowed keys, never a key that
// names a secret, each value scrubbed (Clean) and at most 200 characters.
func Scrub(p Policy, details map[string]string) map[string]string {
	if len(details) == 0 {
		return nil
	}
	out := map[string]string{}
	for _, k := range p.Details {
		v, ok := details[k]
		if !ok || v == "" || secretKey.MatchString(k) {
			continue
		}
		if isPerson(p, k) || (strings.HasSuffix(k, "Id") && idLike.MatchString(v) && !card.MatchString(v)) {
			out[k] = v // an id, kept as it is (a person's is pseudonymised by logging)
			continue
		}
		if v = Clean(v); v != "" {
			out[k] = clip(v, 200)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func isPerson(p Policy, k string) bool {
	for _, x := range p.People {
		if x == k {
			return true
		}
	}
	return false
}

var (
	idLike    = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	secretKey = regexp.MustCompile(`(?i)pass|secret|token|cvc|cvv|card|pan$|pin$|iban|key$|email|phone|address`)
	jwt       = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*`)
	bearer    = regexp.MustCompile(`(?i)\b(bearer|basic)\s+\S+`)
	cvc       = regexp.MustCompile(`(?i)\b(cvc|cvv|cvc2|cvv2|csc|security code)\s*[:=#]?\s*\d{3,4}\b`)
	card      = regexp.MustCompile(`\b(?:\d[ -]?){12,18}\d\b`)
	email     = regexp.MustCompile(`(?i)[a-z0-9._%+'-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)+`)
	phone     = regexp.MustCompile(`(?:\+|\b00)?\(?\d[\d ().-]{6,}\d\b`)
	address   = regexp.MustCompile(`(?i)\b\d{1,5}\s+(?:[a-zäöüéèß'.-]+\s+){1,4}(?:street|st|avenue|ave|road|rd|lane|ln|boulevard|blvd|drive|dr|way|court|ct|place|pl|square|sq|strasse|straße|rue|calle|via)\b\.?`)
	secretish = regexp.MustCompile(`\b[A-Za-z0-9_+/=-]{32,}\b`)
)

// Clean scrubs one free-text value: secrets and card numbers are removed,
// emails, phone numbers and street addresses become placeholders. The order
// matters: a card number is removed before it could pass for a phone.
func Clean(v string) string {
	v = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, v)
	v = jwt.ReplaceAllString(v, "[removed]")
	v = bearer.ReplaceAllString(v, "[removed]")
	v = cvc.ReplaceAllString(v, "[removed]")
	v = card.ReplaceAllString(v, "[removed]")
	v = email.ReplaceAllString(v, "[email]")
	v = address.ReplaceAllString(v, "[address]")
	v = phone.ReplaceAllStringFunc(v, func(m string) string {
		digits := 0
		for _, r := range m {
			if r >= '0' && r <= '9' {
				digits++
			}
		}
		if digits < 8 || looksLikeDate(m) { // a year, a count or a date, not a phone
			return m
		}
		return "[phone]"
	})
	v = secretish.ReplaceAllStringFunc(v, func(m string) string {
		if strings.Trim(m, "-") == "" || isUUIDish(m) {
			return m
		}
		return "[removed]"
	})
	return strings.TrimSpace(v)
}

var dateLike = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}`)

func looksLikeDate(s string) bool { return dateLike.MatchString(strings.TrimSpace(s)) }

// isUUIDish keeps ids (a UUID, 36 characters with four dashes) that are no
// secret; anything else that long and unbroken is treated as a key.
func isUUIDish(s string) bool { return len(s) == 36 && strings.Count(s, "-") == 4 }

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// cut on a rune boundary
	for n > 0 && !utf8Start(s[n]) {
		n--
	}
	return s[:n]
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// Actions lists every action with a policy, sorted (documentation).
func Actions() []string {
	out := make([]string, 0, len(Policies))
	for a := range Policies {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}
