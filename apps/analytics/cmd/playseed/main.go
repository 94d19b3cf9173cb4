// Command playseed fills a running analytics service's rollups with the
// counts of generated plays, through the analytics sidecar and analytics'
// own flush (the same records, listener markers and ETags as plays that
// arrive by pub/sub), so a benchmark can ask for reports over a month of a
// million plays without waiting for the broker. Plays are merged into
// batches of -batch plays, each flushed as one consumed event: the rollups
// are exactly what the plays would make; only the per-event "seen" ids are
// fewer. It reads the sidecar's ports and token from the environment
// (DAPR_GRPC_PORT, DAPR_HTTP_PORT, DAPR_API_TOKEN) and refuses to run
// outside the local stack (HARMONIA_LOCAL=1).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"time"

	"github.com/harmonia-music/harmonia/apps/analytics/internal/app"
	"github.com/harmonia-music/harmonia/apps/analytics/internal/domain"
	"github.com/harmonia-music/harmonia/internal/events"
	"github.com/harmonia-music/harmonia/internal/platform"
	"github.com/harmonia-music/harmonia/internal/platform/dapr"
)

func main() { platform.Main("playseed", run) }

func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("playseed", flag.ContinueOnError)
	n := fs.Int("n", 1_000_000, "plays")
	days := fs.Int("days", 30, "days the plays spread over, ending today")
	listeners := fs.Int("listeners", 2_000, "distinct listeners")
	tracks := fs.Int("tracks", 2_000, "distinct tracks (10 to an album, 5 albums to an artist)")
	batch := fs.Int("batch", 2_000, "plays merged into one flushed event")
	if err := fs.Parse(os.Args[1:]); err != nil {
		return err
	}
	sc, store, err := dapr.LocalTool(getenv, "analytics", "ANALYTICS_STATE_STORE", "analytics-store")
	if err != nil {
		return err
	}
	defer sc.Close()
	s, err := app.New(dapr.NewStateStore(sc, store), nil, app.Config{})
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(3, 4))
	countries := []string{"PT", "ES", "FR", "DE", "GB", "US", "BR", "JP", "IN", "NZ"}
	devices := []string{"web", "mobile", "desktop", "other"}
	bands := []string{"under-18", "18-24", "25-34", "35-44", "45-54", "55-64", "65+", "unknown"}
	genres := []string{"jazz", "rock", "pop", "folk", "ambient", "classical", "electronic", "hip-hop"}
	start := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -(*days - 1))
	began := time.Now()
	for done, seq := 0, 0; done < *n; seq++ {
		k := min(*batch, *n-done)
		var fx domain.Effect
		sums := map[[2]string]int64{}
		marked := map[string]bool{}
		for i := 0; i < k; i++ {
			t := rng.IntN(*tracks)
			u := rng.IntN(*listeners)
			e := events.TrackPlayed{UserID: fmt.Sprintf("seed-listener-%d", u), TrackID: fmt.Sprintf("seed-track-%d", t),
				AlbumID: fmt.Sprintf("seed-album-%d", t/10), ArtistID: fmt.Sprintf("seed-artist-%d", t/50), Genre: genres[t%len(genres)],
				Country: countries[u%len(countries)], Device: devices[(u+i)%len(devices)], AgeBand: bands[u%len(bands)],
				PlayedAt: start.Add(time.Duration(rng.IntN(*days*24*3600)) * time.Second)}
			pe := domain.PlayEffect(e)
			for _, d := range pe.Deltas {
				sums[[2]string{d.Record, d.Key}] += d.N
			}
			for _, m := range pe.Markers {
				if !marked[m.Key] {
					marked[m.Key] = true
					fx.Markers = append(fx.Markers, m)
				}
			}
		}
		for rk, v := range sums {
			fx.Deltas = append(fx.Deltas, domain.Delta{Record: rk[0], Key: rk[1], N: v})
		}
		in := &app.Incoming{ID: fmt.Sprintf("playseed|%d|%d", began.UnixNano(), seq), Topic: events.TopicTrackPlayed, Time: time.Now(), Effect: fx}
		if err := s.Flush(ctx, []*app.Incoming{in}); err != nil {
			return fmt.Errorf("after %d plays: %w", done, err)
		}
		done += k
		if done%100_000 < k {
			fmt.Fprintf(stdout, "%d plays, %.0f per second\n", done, float64(done)/time.Since(began).Seconds())
		}
	}
	fmt.Fprintf(stdout, "added the rollups of %d plays in %s (%.0f per second)\n", *n, time.Since(began).Round(time.Second), float64(*n)/time.Since(began).Seconds())
	return nil
}
