// Package events holds the event contracts: one Go type per event that
// Harmonia's services publish on the pub/sub component, with its topic. The
// platform kit publishes and decodes only these types (pubsub.Publish,
// pubsub.On, state.Announce), so a publisher and its consumers cannot drift
// apart. docs/events.md is generated from Catalog (make docs) and a test
// fails when it is stale.
//
// Rules: a field tagged event:"required" must be set (a consumer that gets
// an event without it answers DROP); consumers ignore fields they do not
// know, so adding an optional field is compatible, and anything else is a
// new version (a new type and topic).
package events

import (
	"errors"
	"fmt"
	"reflect"
	"time"
)

// Event is implemented by every contract.
type Event interface {
	Topic() string
}

// Topics, one per event type.
const (
	TopicUserRegistered            = "user.registered"
	TopicUserUpdated               = "user.updated"
	TopicUserDeleted               = "user.deleted"
	TopicArtistCreated             = "artist.created"
	TopicArtistUpdated             = "artist.updated"
	TopicArtistFollowed            = "artist.followed"
	TopicArtistUnfollowed          = "artist.unfollowed"
	TopicAlbumPublished            = "album.published"
	TopicAlbumUpdated              = "album.updated"
	TopicTrackPlayed               = "track.played"
	TopicPlaylistChanged           = "playlist.changed"
	TopicPlaylistDeleted           = "playlist.deleted"
	TopicSubscriptionActivated     = "subscription.activated"
	TopicSubscriptionRenewed       = "subscription.renewed"
	TopicSubscriptionPaymentFailed = "subscription.payment_failed"
	TopicSubscriptionCancelled     = "subscription.cancelled"
	TopicSubscriptionExpired       = "subscription.expired"
	TopicPaymentSucceeded          = "payment.succeeded"
	TopicPaymentFailed             = "payment.failed"
	TopicPaymentRefunded           = "payment.refunded"
	TopicMemberInvited             = "member.invited"
	TopicOfferPublished            = "offer.published"
	TopicAuditRecorded             = "audit.recorded"
	TopicNotificationsDelivered    = "notifications.delivered"
	// DeadLetterTopic receives what a consumer could not take after Dapr's retries.
	DeadLetterTopic = "deadletter"
)

// UserRegistered: an account was created (credentials in auth, the profile
// in users). It carries no email or name: events stay in the broker's
// streams, so a consumer that needs them asks users by invocation.
type UserRegistered struct {
	UserID       string    `json:"userId" event:"required"`
	Country      string    `json:"country,omitempty"`
	BirthYear    int       `json:"birthYear,omitempty"`
	RegisteredAt time.Time `json:"registeredAt" event:"required"`
}

// UserUpdated: a profile or its preferences changed; Fields names what.
type UserUpdated struct {
	UserID         string          `json:"userId" event:"required"`
	Fields         []string        `json:"fields" event:"required"`
	Country        string          `json:"country,omitempty"`
	BirthYear      int             `json:"birthYear,omitempty"`
	Notifications  *ChannelChoices `json:"notifications,omitempty"`
	MarketingOptIn *bool           `json:"marketingOptIn,omitempty"`
	UpdatedAt      time.Time       `json:"updatedAt" event:"required"`
}

// ChannelChoices are the notification channels a listener allows.
type ChannelChoices struct {
	Email bool `json:"email"`
	SMS   bool `json:"sms"`
	InApp bool `json:"inApp"`
}

// UserDeleted: an account was deleted; every service forgets the user.
type UserDeleted struct {
	UserID    string    `json:"userId" event:"required"`
	DeletedAt time.Time `json:"deletedAt" event:"required"`
}

// ArtistCreated: a catalogue artist was created.
type ArtistCreated struct {
	ArtistID  string    `json:"artistId" event:"required"`
	Name      string    `json:"name" event:"required"`
	Genres    []string  `json:"genres,omitempty"`
	Version   int       `json:"version" event:"required"`
	CreatedAt time.Time `json:"createdAt" event:"required"`
}

// ArtistUpdated: a catalogue artist changed.
type ArtistUpdated struct {
	ArtistID  string    `json:"artistId" event:"required"`
	Name      string    `json:"name" event:"required"`
	Genres    []string  `json:"genres,omitempty"`
	Version   int       `json:"version" event:"required"`
	UpdatedAt time.Time `json:"updatedAt" event:"required"`
}

// ArtistFollowed: a listener started following an artist.
type ArtistFollowed struct {
	UserID     string    `json:"userId" event:"required"`
	ArtistID   string    `json:"artistId" event:"required"`
	FollowedAt time.Time `json:"followedAt" event:"required"`
}

// ArtistUnfollowed: a listener stopped following an artist. With
// artist.followed it keeps a follower list elsewhere right; At orders the
// two for one listener and artist (a late follow never undoes a newer
// unfollow).
type ArtistUnfollowed struct {
	UserID       string    `json:"userId" event:"required"`
	ArtistID     string    `json:"artistId" event:"required"`
	UnfollowedAt time.Time `json:"unfollowedAt" event:"required"`
}

// Album carries the facts every album.* event has: what a search index
// needs (the artist's name, the tracks) and the album's version, which
// orders its changes.
type Album struct {
	AlbumID     string       `json:"albumId" event:"required"`
	ArtistID    string       `json:"artistId" event:"required"`
	ArtistName  string       `json:"artistName,omitempty"`
	Title       string       `json:"title" event:"required"`
	Genre       string       `json:"genre,omitempty"`
	ReleaseDate string       `json:"releaseDate,omitempty"`
	Tracks      []TrackFacts `json:"tracks,omitempty"`
	Version     int          `json:"version,omitempty"`
}

// TrackFacts are one track of an album, as its events carry it.
type TrackFacts struct {
	TrackID    string `json:"trackId"`
	Title      string `json:"title"`
	Number     int    `json:"number"`
	DurationMs int64  `json:"durationMs,omitempty"`
}

// AlbumPublished: an album became visible to listeners.
type AlbumPublished struct {
	Album
	TrackCount  int       `json:"trackCount"`
	PublishedAt time.Time `json:"publishedAt" event:"required"`
}

// AlbumUpdated: a published album's details changed.
type AlbumUpdated struct {
	Album
	UpdatedAt time.Time `json:"updatedAt" event:"required"`
}

// TrackPlayed: a listener played a track (once per play, not per range
// request); Preview when they heard the preview only. Device is the
// gateway's class of the client (web, mobile, desktop, other); Country and
// AgeBand come from the listener's profile, Genre from the album.
type TrackPlayed struct {
	PlayID   string    `json:"playId,omitempty"` // one id per play, kept across publish retries
	UserID   string    `json:"userId"`
	TrackID  string    `json:"trackId" event:"required"`
	AlbumID  string    `json:"albumId" event:"required"`
	ArtistID string    `json:"artistId"`
	Genre    string    `json:"genre,omitempty"`
	Preview  bool      `json:"preview"`
	Device   string    `json:"device,omitempty"`
	Country  string    `json:"country,omitempty"`
	AgeBand  string    `json:"ageBand,omitempty"`
	PlayedAt time.Time `json:"playedAt" event:"required"`
}

// AgeBand is the band of a birth year at a time: under-18, 18-24, 25-34,
// 35-44, 45-54, 55-64, 65+, or unknown (no birth year).
func AgeBand(birthYear int, at time.Time) string {
	if birthYear <= 0 {
		return "unknown"
	}
	age := at.Year() - birthYear
	switch {
	case age < 18:
		return "under-18"
	case age < 25:
		return "18-24"
	case age < 35:
		return "25-34"
	case age < 45:
		return "35-44"
	case age < 55:
		return "45-54"
	case age < 65:
		return "55-64"
	}
	return "65+"
}

// PlaylistChanged: a playlist was created or changed (Change says how).
type PlaylistChanged struct {
	PlaylistID string    `json:"playlistId" event:"required"`
	OwnerID    string    `json:"ownerId" event:"required"`
	Name       string    `json:"name"`
	Public     bool      `json:"public"`
	TrackCount int       `json:"trackCount"`
	Version    int       `json:"version" event:"required"`
	Change     string    `json:"change" event:"required"`
	ChangedAt  time.Time `json:"changedAt" event:"required"`
}

// PlaylistDeleted: a playlist was deleted.
type PlaylistDeleted struct {
	PlaylistID string `json:"playlistId" event:"required"`
	OwnerID    string `json:"ownerId" event:"required"`
}

// Subscription carries the facts every subscription.* event has.
type Subscription struct {
	SubscriptionID string     `json:"subscriptionId" event:"required"`
	UserID         string     `json:"userId" event:"required"`
	PlanID         string     `json:"planId" event:"required"`
	Status         string     `json:"status" event:"required"`
	Cycle          int        `json:"cycle"`
	Outcome        string     `json:"outcome,omitempty"`
	PeriodEnd      *time.Time `json:"periodEnd,omitempty"`
	At             time.Time  `json:"at" event:"required"`
}

// SubscriptionActivated: the first period was paid and started.
type SubscriptionActivated struct{ Subscription }

// SubscriptionRenewed: a further period was paid.
type SubscriptionRenewed struct{ Subscription }

// SubscriptionPaymentFailed: the checkout ended without a paid period
// (declined, or failed and compensated).
type SubscriptionPaymentFailed struct{ Subscription }

// SubscriptionCancelled: a cancelled subscription reached its period's end.
type SubscriptionCancelled struct{ Subscription }

// SubscriptionExpired: renewal could not be charged; the subscription ended.
type SubscriptionExpired struct{ Subscription }

// Charge carries the facts every payment.* event has.
type Charge struct {
	ChargeID       string    `json:"chargeId" event:"required"`
	IdempotencyKey string    `json:"idempotencyKey" event:"required"`
	UserID         string    `json:"userId" event:"required"`
	Amount         int64     `json:"amount"`
	Currency       string    `json:"currency" event:"required"`
	PlanID         string    `json:"planId,omitempty"`         // what the money was for (a subscription's plan)
	SubscriptionID string    `json:"subscriptionId,omitempty"` // its subscription
	Status         string    `json:"status" event:"required"`
	Reason         string    `json:"reason,omitempty"`
	At             time.Time `json:"at" event:"required"`
}

// PaymentSucceeded: money was taken.
type PaymentSucceeded struct{ Charge }

// PaymentFailed: the processor declined a charge.
type PaymentFailed struct{ Charge }

// PaymentRefunded: the money of a charge was given back.
type PaymentRefunded struct{ Charge }

// MemberInvited: a family-plan owner invited a listener.
type MemberInvited struct {
	InvitationID   string    `json:"invitationId" event:"required"`
	SubscriptionID string    `json:"subscriptionId" event:"required"`
	OwnerID        string    `json:"ownerId" event:"required"`
	InviteeID      string    `json:"inviteeId,omitempty"`
	InvitedAt      time.Time `json:"invitedAt" event:"required"`
}

// OfferPublished: an administrator published an offer to listeners who
// agreed to marketing messages.
type OfferPublished struct {
	OfferID     string    `json:"offerId" event:"required"`
	Title       string    `json:"title" event:"required"`
	Body        string    `json:"body" event:"required"`
	PlanID      string    `json:"planId,omitempty"`
	ValidUntil  time.Time `json:"validUntil" event:"required"`
	PublishedAt time.Time `json:"publishedAt" event:"required"`
}

// NotificationsDelivered: notifications stored in-app messages for these
// listeners. It is notifications' own broadcast: every replica hears it (a
// per-replica consumer on Kubernetes) and wakes the live streams it holds
// for them; the messages themselves are read from the store.
type NotificationsDelivered struct {
	UserIDs []string `json:"userIds" event:"required"`
	// Origin is the replica that delivered them; it woke its own streams
	// already and skips its own broadcast.
	Origin string `json:"origin,omitempty"`
}

// AuditRecorded: a user or money action, for the audit log (no PII).
type AuditRecorded struct {
	// RecordID identifies the record across publish retries (the helper
	// may send it again after an unclear failure): logging writes it once.
	RecordID    string            `json:"recordId,omitempty"`
	Actor       string            `json:"actor" event:"required"`
	Action      string            `json:"action" event:"required"`
	SubjectType string            `json:"subjectType,omitempty"`
	SubjectID   string            `json:"subjectId,omitempty"`
	Outcome     string            `json:"outcome" event:"required"`
	RequestID   string            `json:"requestId,omitempty"`
	TraceID     string            `json:"traceId,omitempty"`
	Details     map[string]string `json:"details,omitempty"`
	At          time.Time         `json:"at" event:"required"`
}

// Topic implementations.
func (UserRegistered) Topic() string            { return TopicUserRegistered }
func (UserUpdated) Topic() string               { return TopicUserUpdated }
func (UserDeleted) Topic() string               { return TopicUserDeleted }
func (ArtistCreated) Topic() string             { return TopicArtistCreated }
func (ArtistUpdated) Topic() string             { return TopicArtistUpdated }
func (ArtistFollowed) Topic() string            { return TopicArtistFollowed }
func (ArtistUnfollowed) Topic() string          { return TopicArtistUnfollowed }
func (AlbumPublished) Topic() string            { return TopicAlbumPublished }
func (AlbumUpdated) Topic() string              { return TopicAlbumUpdated }
func (TrackPlayed) Topic() string               { return TopicTrackPlayed }
func (PlaylistChanged) Topic() string           { return TopicPlaylistChanged }
func (PlaylistDeleted) Topic() string           { return TopicPlaylistDeleted }
func (SubscriptionActivated) Topic() string     { return TopicSubscriptionActivated }
func (SubscriptionRenewed) Topic() string       { return TopicSubscriptionRenewed }
func (SubscriptionPaymentFailed) Topic() string { return TopicSubscriptionPaymentFailed }
func (SubscriptionCancelled) Topic() string     { return TopicSubscriptionCancelled }
func (SubscriptionExpired) Topic() string       { return TopicSubscriptionExpired }
func (PaymentSucceeded) Topic() string          { return TopicPaymentSucceeded }
func (PaymentFailed) Topic() string             { return TopicPaymentFailed }
func (PaymentRefunded) Topic() string           { return TopicPaymentRefunded }
func (MemberInvited) Topic() string             { return TopicMemberInvited }
func (OfferPublished) Topic() string            { return TopicOfferPublished }
func (AuditRecorded) Topic() string             { return TopicAuditRecorded }
func (NotificationsDelivered) Topic() string    { return TopicNotificationsDelivered }

// ErrInvalid wraps every validation failure.
var ErrInvalid = errors.New("invalid event")

// Validate reports a required field left empty.
func Validate(e Event) error {
	if e == nil {
		return fmt.Errorf("%w: nil event", ErrInvalid)
	}
	v := reflect.ValueOf(e)
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return fmt.Errorf("%w: %T is not an event struct", ErrInvalid, e)
	}
	return validate(e.Topic(), v)
}

func validate(topic string, v reflect.Value) error {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			if err := validate(topic, v.Field(i)); err != nil {
				return err
			}
			continue
		}
		if f.Tag.Get("event") == "required" && v.Field(i).IsZero() {
			return fmt.Errorf("%w: %s: required field %q is missing", ErrInvalid, topic, jsonName(f))
		}
	}
	return nil
}
