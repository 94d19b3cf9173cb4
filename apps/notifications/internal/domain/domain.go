// Package domain holds notifications' rules: a listener's in-app inbox with
// its sequence numbers, outgoing messages and their states, and the follower
// and audience lists kept from events.
package domain

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/harmonia-music/harmonia/internal/platform/fault"
	"github.com/harmonia-music/harmonia/internal/platform/state"
)

// Kinds of notification.
const (
	KindWelcome       = "welcome"
	KindReceipt       = "receipt"
	KindPaymentFailed = "payment_failed"
	KindCancelled     = "cancelled"
	KindExpired       = "expired"
	KindRefund        = "refund"
	KindRelease       = "release"
	KindOffer         = "offer"
	KindInvitation    = "invitation"
)

// Inbox is the head of a listener's in-app notifications: the last sequence
// number given, what was read, and the recent sources (so a redelivered
// event adds nothing). The items themselves are separate records by
// sequence number (Item).
type Inbox struct {
	Last     int `json:"last"`
	ReadUpTo int `json:"readUpTo"` // every item up to here is read (read-all)
	// ReadAllAt is when read-all last ran: the read time of the items it read.
	ReadAllAt *time.Time `json:"readAllAt,omitempty"`
	Unread    int        `json:"unread"`
	Recent    []string   `json:"recent,omitempty"` // the sources of the newest items, newest last
}

// RecentSources bounds the sources an inbox remembers for deduplication.
const RecentSources = 64

// Add gives the next sequence number to a notification from source; ok is
// false when that source was already added (a redelivery).
func (b *Inbox) Add(source string) (seq int, ok bool) {
	if slices.Contains(b.Recent, source) {
		return 0, false
	}
	b.Last++
	b.Unread++
	b.Recent = append(b.Recent, source)
	if len(b.Recent) > RecentSources {
		b.Recent = slices.Delete(b.Recent, 0, len(b.Recent)-RecentSources)
	}
	return b.Last, true
}

// Item is one in-app notification.
type Item struct {
	ID        string     `json:"id"`
	Seq       int        `json:"seq"`
	Kind      string     `json:"kind"`
	Title     string     `json:"title"`
	Body      string     `json:"body"`
	Link      string     `json:"link,omitempty"`
	CreatedAt time.Time  `json:"createdAt"`
	ReadAt    *time.Time `json:"readAt,omitempty"`
}

// IsRead says whether the item counts as read under the inbox.
func (it Item) IsRead(b Inbox) bool { return it.ReadAt != nil || it.Seq <= b.ReadUpTo }

// ItemID is an item's public id: its sequence number and a check derived
// from the source, so an id is found in one read and cannot be guessed
// from a sequence number alone.
func ItemID(seq int, source string) string {
	h := sha256.Sum256([]byte(source))
	return strconv.Itoa(seq) + "-" + hex.EncodeToString(h[:6])
}

// SeqOf reads the sequence number out of an item id.
func SeqOf(id string) (int, bool) {
	s, _, ok := strings.Cut(id, "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n > 0
}

// ErrNotificationNotFound answers an unknown notification id.
var ErrNotificationNotFound = fault.E(fault.KindNotFound, "notification-not-found", "no such notification")

// Channels of outgoing messages.
const (
	ChannelEmail = "email"
	ChannelSMS   = "sms"
)

// Message states.
const (
	StatusPending = "pending" // recorded; being sent
	StatusSent    = "sent"
	StatusFailed  = "failed" // the channel refused after its retries; an admin may retry
)

// Message is one outgoing email or SMS. It is recorded before it is sent,
// under an id derived from its source, so a redelivered event finds it and
// sends nothing again. It holds no address or name: those are read from
// users when it is sent (and again when it is retried).
type Message struct {
	ID        string            `json:"id"`
	Channel   string            `json:"channel"`
	UserID    string            `json:"userId"`
	Kind      string            `json:"kind"`
	Params    map[string]string `json:"params,omitempty"`
	Status    string            `json:"status"`
	Attempts  int               `json:"attempts"`
	Error     string            `json:"error,omitempty"`
	CreatedAt time.Time         `json:"createdAt"`
	UpdatedAt time.Time         `json:"updatedAt"`
	SentAt    *time.Time        `json:"sentAt,omitempty"`
}

// MessageID derives a message's id from its source, listener and channel.
func MessageID(source, userID, channel string) string {
	h := sha256.Sum256([]byte(source + "\x00" + userID + "\x00" + channel))
	return hex.EncodeToString(h[:16])
}

// ErrMessageNotFound answers an unknown message id.
var ErrMessageNotFound = fault.E(fault.KindNotFound, "message-not-found", "no such message")

// ErrNotFailed refuses to retry a message that has not failed.
var ErrNotFailed = fault.E(fault.KindConflict, "message-not-failed", "only a failed message can be retried")

// Open lists the messages not yet sent (pending or failed), in one of
// OpenShards records, so the failed list and the sweep of interrupted sends
// find them without a query.
type Open struct {
	IDs []string `json:"ids"`
}

// OpenShards spreads the open lists, so concurrent sends rarely write the same one.
const OpenShards = 16

// Shard maps an id to one of n shards.
func Shard(id string, n int) int { return state.ShardOf(id, n) }

// Mark is a follower's or an audience member's latest state and when it was
// set: a late, older event never undoes a newer one.
type Mark struct {
	On bool      `json:"on"`
	At time.Time `json:"at"`
}

// Members is one shard of a set of listeners (an artist's followers, the
// marketing audience), keyed by user id.
type Members struct {
	Users map[string]Mark `json:"users"`
}

// Set records on/off for user at at; it reports whether anything changed.
func (m *Members) Set(user string, on bool, at time.Time) bool {
	if m.Users == nil {
		m.Users = map[string]Mark{}
	}
	if cur, ok := m.Users[user]; ok && cur.At.After(at) {
		return false
	}
	if cur, ok := m.Users[user]; ok && cur.On == on && cur.At.Equal(at) {
		return false
	}
	m.Users[user] = Mark{On: on, At: at}
	return true
}

// Forget drops a user entirely (their account was deleted).
func (m *Members) Forget(user string) bool {
	if _, ok := m.Users[user]; !ok {
		return false
	}
	delete(m.Users, user)
	return true
}

// Active lists the users marked on, sorted (a stable order for paging).
func (m Members) Active() []string {
	out := make([]string, 0, len(m.Users))
	for u, mk := range m.Users {
		if mk.On {
			out = append(out, u)
		}
	}
	slices.Sort(out)
	return out
}

// MemberShards spreads a follower list or the audience: an artist with
// 100,000 followers has about 1,600 in each, read and written as one
// record, and a fan-out goes shard by shard.
const MemberShards = 64

// Job is a fan-out under way: one notice to every member of a set, shard by
// shard; Next is the first shard not yet done, so a restart resumes there.
type Job struct {
	ID        string    `json:"id"`
	Set       string    `json:"set"` // "followers|<artistId>" or "audience"
	Notice    Notice    `json:"notice"`
	Next      int       `json:"next"`
	Delivered int       `json:"delivered"`
	Done      bool      `json:"done,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	// Owner is the process working on it until LeaseUntil (renewed after
	// every shard): with several replicas, one runs a fan-out at a time.
	Owner      string    `json:"owner,omitempty"`
	LeaseUntil time.Time `json:"leaseUntil,omitempty"`
}

// Jobs lists the fan-outs not finished.
type Jobs struct {
	IDs []string `json:"ids"`
}

// Notice is what one event tells its listeners: the in-app text, the email
// template and its parameters, the SMS text, and which channels it may use.
type Notice struct {
	Source string            `json:"source"` // the event it comes from (deduplication)
	Kind   string            `json:"kind"`
	Title  string            `json:"title"`
	Body   string            `json:"body"`
	Link   string            `json:"link,omitempty"`
	Params map[string]string `json:"params,omitempty"` // for the email and SMS templates
	InApp  bool              `json:"inApp"`            // subject to the listener's in-app choice
	Email  EmailRule         `json:"email"`
	SMS    bool              `json:"sms"` // subject to the listener's SMS choice
	// Marketing notices reach only listeners who opted in to marketing.
	Marketing bool `json:"marketing,omitempty"`
}

// EmailRule says when a notice goes by email.
type EmailRule string

// Email rules.
const (
	EmailNever     EmailRule = ""
	EmailIfEnabled EmailRule = "if-enabled" // the listener's email choice
	EmailAlways    EmailRule = "always"     // security and money: whatever the choice
	EmailMarketing EmailRule = "marketing"  // only with marketing opt-in, with an unsubscribe link
)

// Offer is an administrator's offer.
type Offer struct {
	ID          string    `json:"id"`
	Title       string    `json:"title"`
	Body        string    `json:"body"`
	PlanID      string    `json:"planId,omitempty"`
	ValidUntil  time.Time `json:"validUntil"`
	PublishedAt time.Time `json:"publishedAt"`
	PublishedBy string    `json:"publishedBy"`
}

// CheckOffer validates an offer's fields.
func CheckOffer(title, body, planID string, validUntil *time.Time, now time.Time) error {
	var v fault.Validation
	v.Check(strings.TrimSpace(title) != "" && len([]rune(title)) <= 120, "title", "must be 1 to 120 characters")
	v.Check(strings.TrimSpace(body) != "" && len([]rune(body)) <= 2000, "body", "must be 1 to 2000 characters")
	v.Check(planID == "" || (len(planID) <= 64 && isSlug(planID)), "planId", "must be a plan id (letters, digits, '-')")
	switch {
	case validUntil == nil:
		v.Check(false, "validUntil", "is required (RFC 3339)")
	default:
		v.Check(validUntil.After(now), "validUntil", "must be in the future")
	}
	return v.Err()
}

func isSlug(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return s != ""
}
