package events

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
)

// Spec describes one event for the catalogue and its generated document.
type Spec struct {
	Event     Event
	Version   int
	Publisher string // app id; "" while no service publishes it yet
	// Publishers, when set, lists every app that publishes it (an event
	// every service sends, through a platform helper); Publisher is "".
	Publishers  []string
	Subscribers []string // app ids
	Outbox      bool     // committed with its state change (the outbox: internal/platform/outbox)
	Doc         string
}

// Catalog lists every event; a test checks it against the apps' code.
var Catalog = []Spec{
	{Event: UserRegistered{}, Version: 1, Publisher: "auth", Subscribers: []string{"analytics", "notifications"}, Doc: "An account was created: credentials in auth, then the profile in users (a failed profile removes the credentials again, and nothing is published). No email or name: a consumer that needs them reads them from users."},
	{Event: UserUpdated{}, Version: 1, Publisher: "users", Subscribers: []string{"analytics", "notifications"}, Doc: "A profile or its preferences changed; `fields` names what changed. notifications drops its cached contact of the listener and keeps the offer audience (`marketingOptIn`)."},
	{Event: UserDeleted{}, Version: 1, Publisher: "users", Subscribers: []string{"albums", "analytics", "logging", "notifications", "payments", "playlists", "subscriptions"}, Outbox: true, Doc: "An account was deleted: auth's credentials and users' profile are gone, and it commits with users' tombstone of the account (so it is sent even if users stops right after). Each subscriber forgets what it holds of the user: playlists deletes theirs, subscriptions cancels their subscription and removes memberships and invitations, payments deletes payment methods and pseudonymises charges, albums detaches them from artists they managed, notifications deletes their inbox and takes them off follower lists and the offer audience, logging forgets their salt (their audit entries can no longer be tied to them)."},
	{Event: ArtistCreated{}, Version: 1, Publisher: "albums", Subscribers: []string{"search"}, Doc: "A catalogue artist was created; `version` orders changes to one artist."},
	{Event: ArtistUpdated{}, Version: 1, Publisher: "albums", Subscribers: []string{"search"}, Doc: "A catalogue artist was renamed or its genres changed (`PATCH /api/v1/artists/{id}`); `version` orders changes to one artist."},
	{Event: ArtistFollowed{}, Version: 1, Publisher: "users", Subscribers: []string{"notifications"}, Doc: "A listener started following an artist. notifications keeps each artist's followers from this and `artist.unfollowed`, to tell them of new releases."},
	{Event: ArtistUnfollowed{}, Version: 1, Publisher: "users", Subscribers: []string{"notifications"}, Doc: "A listener stopped following an artist; `unfollowedAt` against `followedAt` keeps a late event from undoing a newer one."},
	{Event: AlbumPublished{}, Version: 1, Publisher: "albums", Subscribers: []string{"notifications", "search"}, Doc: "An album became visible to listeners (by the publish endpoint or the catalogue import), with its tracks and its artist's name; `version` orders changes to one album. notifications tells the artist's followers (in pages, in the background)."},
	{Event: AlbumUpdated{}, Version: 1, Publisher: "albums", Subscribers: []string{"search"}, Doc: "A published album's details changed; `version` orders changes to one album."},
	{Event: TrackPlayed{}, Version: 1, Publisher: "albums", Subscribers: []string{"albums", "analytics", "search"}, Outbox: true, Doc: "A listener played a track: one event per play, not per range request, committed with a record of the play through albums' outbox (published directly if the store refuses). It carries what analytics groups by: the album's genre, the gateway's device class (web, mobile, desktop, other: the client's X-Harmonia-Client, else its User-Agent), the listener's country and age band. albums counts plays for trending, search for popularity."},
	{Event: PlaylistChanged{}, Version: 1, Publisher: "playlists", Subscribers: []string{"search"}, Doc: "A playlist was created or changed; `change` says how, `version` orders changes."},
	{Event: PlaylistDeleted{}, Version: 1, Publisher: "playlists", Subscribers: []string{"search"}, Doc: "A playlist was deleted (by its owner, or with its owner's account)."},
	{Event: SubscriptionActivated{}, Version: 1, Publisher: "subscriptions", Subscribers: []string{"analytics", "notifications"}, Outbox: true, Doc: "The checkout charged the first period and activated the subscription."},
	{Event: SubscriptionRenewed{}, Version: 1, Publisher: "subscriptions", Subscribers: []string{"analytics", "notifications"}, Outbox: true, Doc: "A renewal was charged and the period extended; `cycle` counts renewals."},
	{Event: SubscriptionPaymentFailed{}, Version: 1, Publisher: "subscriptions", Subscribers: []string{"analytics", "notifications"}, Outbox: true, Doc: "The checkout ended without a paid period: declined, or failed and compensated (`outcome` says which)."},
	{Event: SubscriptionCancelled{}, Version: 1, Publisher: "subscriptions", Subscribers: []string{"analytics", "notifications"}, Outbox: true, Doc: "A cancelled subscription reached the end of its paid period."},
	{Event: SubscriptionExpired{}, Version: 1, Publisher: "subscriptions", Subscribers: []string{"analytics", "notifications"}, Outbox: true, Doc: "Renewal could not be charged after its attempts; the subscription ended."},
	{Event: PaymentSucceeded{}, Version: 1, Publisher: "payments", Subscribers: []string{"analytics"}, Outbox: true, Doc: "Money was taken under an idempotency key."},
	{Event: PaymentFailed{}, Version: 1, Publisher: "payments", Subscribers: []string{"analytics"}, Outbox: true, Doc: "The processor declined a charge."},
	{Event: PaymentRefunded{}, Version: 1, Publisher: "payments", Subscribers: []string{"analytics", "notifications"}, Outbox: true, Doc: "The money of a succeeded charge was given back."},
	{Event: MemberInvited{}, Version: 1, Publisher: "subscriptions", Subscribers: []string{"notifications"}, Doc: "A family-plan owner invited a listener who has an account (`inviteeId`); they become a member only by accepting."},
	{Event: OfferPublished{}, Version: 1, Publisher: "notifications", Subscribers: []string{"notifications"}, Outbox: true, Doc: "An administrator published an offer (`POST /api/v1/admin/offers`); it commits with the offer's record. notifications tells the listeners who opted in to marketing (in-app, and by email with an unsubscribe link)."},
	{Event: NotificationsDelivered{}, Version: 1, Publisher: "notifications", Subscribers: []string{"notifications"}, Doc: "notifications stored in-app notifications for these listeners: its own broadcast, heard by every replica (a per-replica consumer on Kubernetes), which wakes the live streams it holds for them. No content: streams read the store."},
	{Event: AuditRecorded{}, Version: 1, Publishers: AuditPublishers, Subscribers: []string{"logging"}, Doc: "A user or money action for the audit log, sent by every service that records one through the platform helper (`internal/platform/audit`), which applies the action's allow-list to `details` and scrubs what remains (no card number, CVC, password or token; emails, phones and addresses as placeholders) before it leaves the service. `actor` is a user id, `system` or `anonymous`; logging stores people's ids only as salted HMACs. Published after the action commits, with the publishing resiliency's retries; a broker that stays away longer loses the record (logged and counted)."},
}

// AuditPublishers are the apps that record audit entries.
var AuditPublishers = []string{"albums", "auth", "logging", "notifications", "payments", "playlists", "subscriptions", "users"}

// PublisherApps lists the apps that publish the event.
func (s Spec) PublisherApps() []string {
	if len(s.Publishers) > 0 {
		return s.Publishers
	}
	if s.Publisher != "" {
		return []string{s.Publisher}
	}
	return nil
}

// TypeName is the Go type name of an event.
func TypeName(e Event) string { return reflect.TypeOf(e).Name() }

// ForTopic returns the spec of a topic.
func ForTopic(topic string) (Spec, bool) {
	for _, s := range Catalog {
		if s.Event.Topic() == topic {
			return s, true
		}
	}
	return Spec{}, false
}

// Markdown is docs/events.md.
func Markdown() string {
	var b strings.Builder
	b.WriteString("# Events\n\n")
	b.WriteString("<!-- Generated from internal/events by 'make docs'; a test fails when this file is stale. -->\n\n")
	b.WriteString("Every event goes out on the pub/sub component `pubsub` as a CloudEvent 1.0 with JSON data, one topic per\n")
	b.WriteString("event type. Consumers are idempotent on the CloudEvent `id`, ignore fields they do not know, and drop (to\n")
	b.WriteString("the `" + DeadLetterTopic + "` topic, logged) an event that lacks a required field. Events marked *outbox*\n")
	b.WriteString("are published if and only if the state change they announce commits, under an id fixed before the change\n")
	b.WriteString("(the transactional outbox of `internal/platform/outbox`: a notice on `pubsub-outbox`, a marker committed\n")
	b.WriteString("with the change, the publisher's relay); the others are published right after their change commits.\n\n")
	b.WriteString("| topic | Go type | publisher | subscribers |\n|---|---|---|---|\n")
	for _, s := range Catalog {
		pub := strings.Join(s.PublisherApps(), ", ")
		if pub == "" {
			pub = "— (not yet)"
		} else if s.Outbox {
			pub += " (outbox)"
		}
		subs := strings.Join(s.Subscribers, ", ")
		if subs == "" {
			subs = "—"
		}
		fmt.Fprintf(&b, "| `%s` | `events.%s` | %s | %s |\n", s.Event.Topic(), TypeName(s.Event), pub, subs)
	}
	for _, s := range Catalog {
		fmt.Fprintf(&b, "\n## `%s` (version %d)\n\n%s\n\n", s.Event.Topic(), s.Version, s.Doc)
		b.WriteString("| field | type | required |\n|---|---|---|\n")
		for _, f := range fields(reflect.TypeOf(s.Event)) {
			req := ""
			if f.required {
				req = "yes"
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s |\n", f.name, f.typ, req)
		}
	}
	return b.String()
}

type field struct {
	name, typ string
	required  bool
}

func fields(t reflect.Type) []field {
	var out []field
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			out = append(out, fields(f.Type)...)
			continue
		}
		out = append(out, field{name: jsonName(f), typ: typeName(f.Type), required: f.Tag.Get("event") == "required"})
	}
	return out
}

func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if name == "" {
		return f.Name
	}
	return name
}

func typeName(t reflect.Type) string {
	switch {
	case t.Kind() == reflect.Pointer:
		return typeName(t.Elem()) + " (optional)"
	case t.String() == "time.Time":
		return "timestamp (RFC 3339)"
	case t.Kind() == reflect.Slice:
		return "array of " + typeName(t.Elem())
	case t.Kind() == reflect.Map:
		return "object of " + typeName(t.Elem())
	case t.Kind() == reflect.Struct:
		var parts []string
		for _, f := range fields(t) {
			parts = append(parts, "`"+f.name+"` "+f.typ)
		}
		sort.Strings(parts)
		return "object {" + strings.Join(parts, ", ") + "}"
	case t.Kind() == reflect.Int, t.Kind() == reflect.Int64:
		return "integer"
	case t.Kind() == reflect.Bool:
		return "boolean"
	}
	return t.Kind().String()
}
