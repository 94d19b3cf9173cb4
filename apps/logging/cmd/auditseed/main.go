// Command auditseed fills a running logging service's store with generated
// audit entries through the logging sidecar, using logging's own writer (the
// same chain, indexes, salts and head ETag guard as events that arrive by
// pub/sub), so a benchmark can query a large log without waiting for the
// broker. It reads the sidecar's ports and token from the environment
// (DAPR_GRPC_PORT, DAPR_HTTP_PORT, DAPR_API_TOKEN) and the local keys from
// the store, as the local stack's logging does; it is a benchmark tool and
// refuses to run outside the local stack (HARMONIA_LOCAL=1).
package main

import (
	"context"
	"crypto/ed25519"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"time"

	"github.com/google/uuid"

	"github.com/harmonia-music/harmonia/apps/logging/internal/app"
	"github.com/harmonia-music/harmonia/internal/events"
	"github.com/harmonia-music/harmonia/internal/platform"
	"github.com/harmonia-music/harmonia/internal/platform/dapr"
	"github.com/harmonia-music/harmonia/internal/platform/state"
)

func main() { platform.Main("auditseed", run) }

func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("auditseed", flag.ContinueOnError)
	n := fs.Int("n", 1_000_000, "entries to add")
	actors := fs.Int("actors", 10_000, "distinct users acting")
	days := fs.Int("days", 30, "days the entries spread over, ending now")
	batch := fs.Int("batch", 1000, "entries per transaction")
	if err := fs.Parse(os.Args[1:]); err != nil {
		return err
	}
	sc, store, err := dapr.LocalTool(getenv, "logging", "LOGGING_STATE_STORE", "logging-store")
	if err != nil {
		return err
	}
	defer sc.Close()
	kv := dapr.NewStateStore(sc, store)
	hk, err := state.LocalKey(ctx, kv, "key|hmac", 32)
	if err != nil {
		return err
	}
	sk, err := state.LocalKey(ctx, kv, "key|signing", ed25519.SeedSize)
	if err != nil {
		return err
	}
	w := app.NewWriter(kv, app.Config{HMACKey: hk, SigningKey: ed25519.NewKeyFromSeed(sk)})
	users := make([]string, *actors)
	for i := range users {
		users[i] = Actor(i)
	}
	acts := []struct{ action, subject, outcome string }{
		{"auth.login.succeeded", "user", "success"}, {"auth.login.failed", "user", "failure"}, {"auth.logout", "user", "success"},
		{"payment.charged", "payment", "success"}, {"payment.refunded", "payment", "success"}, {"payment.method.added", "payment-method", "success"},
		{"subscription.created", "subscription", "success"}, {"subscription.activated", "subscription", "success"},
		{"subscription.renewed", "subscription", "success"}, {"subscription.cancel_requested", "subscription", "success"},
		{"playlist.deleted", "playlist", "success"}, {"user.updated", "user", "success"},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	start := time.Now().Add(-time.Duration(*days) * 24 * time.Hour)
	step := time.Duration(*days) * 24 * time.Hour / time.Duration(max(*n, 1))
	began := time.Now()
	buf := make([]app.Incoming, 0, *batch)
	for i := 0; i < *n; i++ {
		a := acts[rng.IntN(len(acts))]
		u := users[rng.IntN(len(users))]
		subject := uuid.NewString()
		if a.subject == "user" {
			subject = u
		}
		e := events.AuditRecorded{Actor: u, Action: a.action, SubjectType: a.subject, SubjectID: subject, Outcome: a.outcome,
			RequestID: uuid.NewString(), At: start.Add(time.Duration(i) * step).UTC()}
		if a.action == "payment.charged" || a.action == "payment.refunded" {
			e.Details = map[string]string{"amount": "999", "currency": "EUR"}
		}
		buf = append(buf, app.Incoming{EventID: "seed-" + uuid.NewString(), Service: "auditseed", Event: e})
		if len(buf) == cap(buf) || i == *n-1 {
			if err := w.AppendMany(ctx, buf); err != nil {
				return fmt.Errorf("after %d entries: %w", i+1-len(buf), err)
			}
			buf = buf[:0]
			if (i+1)%100_000 == 0 {
				fmt.Fprintf(stdout, "%d entries, %.0f per second\n", i+1, float64(i+1)/time.Since(began).Seconds())
			}
		}
	}
	fmt.Fprintf(stdout, "added %d entries in %s (%.0f per second)\n", *n, time.Since(began).Round(time.Second), float64(*n)/time.Since(began).Seconds())
	return nil
}

// Actor is the i-th generated user id: a name-based UUID, so a benchmark
// can query by actor without a list (uuid.NewSHA1(uuid.NameSpaceOID,
// "auditseed-user-<i>")).
func Actor(i int) string {
	return uuid.NewSHA1(uuid.NameSpaceOID, []byte(fmt.Sprintf("auditseed-user-%d", i))).String()
}
