package dapr

import (
	"github.com/gorilla/mux"

	"github.com/harmonia-music/harmonia/internal/platform/outbox"
	"github.com/harmonia-music/harmonia/internal/platform/pubsub"
)

// OutboxPubsub is the pub/sub component of the outbox's notices
// (components/pubsub-outbox.yaml).
const OutboxPubsub = "pubsub-outbox"

// ServeOutbox makes kv's announcing transactions go through app's outbox
// (internal/platform/outbox): notices on the notice component, events on
// eventsPubsub, the relay mounted on r and its subscription listed in subs
// (whose GET /dapr/subscribe must be mounted after this).
func ServeOutbox(sc *Sidecar, kv *StateStore, r *mux.Router, subs *pubsub.Subscriptions, app, eventsPubsub, noticePubsub string) {
	kv.WithOutbox(OutboxSettings{App: app, Notices: NewPublisher(sc, noticePubsub)})
	notices := &pubsub.Subscriptions{PubsubName: noticePubsub}
	outbox.Mount(r, notices, app, &outbox.Relay{KV: kv, Pub: NewPublisher(sc, eventsPubsub)})
	subs.Merge(notices)
}
