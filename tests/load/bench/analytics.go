package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/harmonia-music/harmonia/tests/load/loadgen"
)

// playsIngest publishes n track.played events at once through albums'
// sidecar (Dapr's bulk publish, 500 a request) for one new track, and
// measures until analytics' plays report counts exactly n for it (and
// still n a moment later: nothing counted twice).
func playsIngest(ctx context.Context, st stackInfo, base, tok string, n int) (loadgen.Result, error) {
	res := loadgen.Result{Scenario: "analytics-ingest"}
	albums, analytics := st.app("albums"), st.app("analytics")
	track := "bench-track-" + uuid.NewString()[:8]
	now := time.Now().UTC()
	devices := []string{"web", "mobile", "desktop", "other"}
	start := time.Now()
	for sent := 0; sent < n; {
		k := min(500, n-sent)
		entries := make([]map[string]any, k)
		for i := range entries {
			entries[i] = map[string]any{"entryId": strconv.Itoa(sent + i), "contentType": "application/json",
				"event": map[string]any{"playId": uuid.NewString(), "userId": fmt.Sprintf("bench-listener-%d", (sent+i)%1000), "trackId": track,
					"albumId": "bench-album", "artistId": "bench-artist", "genre": "jazz", "device": devices[(sent+i)%4], "country": "PT",
					"ageBand": "25-34", "playedAt": now}}
		}
		if err := bulkPublish(ctx, albums, "pubsub", "track.played", entries); err != nil {
			return res, err
		}
		sent += k
	}
	published := time.Since(start)
	q := url.Values{"groupBy": {"track"}, "top": {"100"}, "from": {now.Format("2006-01-02")}, "to": {now.Format("2006-01-02")}}
	count := func() int64 {
		var r struct {
			Series []struct {
				Key   string `json:"key"`
				Total int64  `json:"total"`
			} `json:"series"`
		}
		if err := call(ctx, http.MethodGet, base+"/admin/analytics/plays?"+q.Encode(), tok, nil, &r); err != nil {
			return -1
		}
		for _, s := range r.Series {
			if s.Key == track {
				return s.Total
			}
		}
		return 0
	}
	if err := waitUntil(ctx, 20*time.Minute, 100*time.Millisecond, func() bool { return count() >= int64(n) }); err != nil {
		return res, fmt.Errorf("analytics counted %d of %d plays: %w", count(), n, err)
	}
	took := time.Since(start)
	time.Sleep(3 * time.Second)
	final := count()
	rss := rssOf(ctx, map[string]int{"analytics": analytics.AppPID, "analytics-daprd": analytics.SidecarPID})
	res.Requests = n
	res.Achieved = float64(n) / took.Seconds()
	if final != int64(n) {
		res.Errors = map[string]int{fmt.Sprintf("counted %d, not %d", final, n): 1}
	}
	res.Notes = fmt.Sprintf("%d track.played events bulk-published through albums' sidecar in %s; the plays report counted %d for the track %s after the first was sent (exactly %d: %v), %.0f events per second; resident memory after: analytics %.0f MB, its sidecar %.0f MB",
		n, published.Round(10*time.Millisecond), final, took.Round(10*time.Millisecond), n, final == int64(n), res.Achieved, rss["analytics"], rss["analytics-daprd"])
	return res, nil
}

// playsSeed adds the rollups of n plays over 30 days with playseed (through
// analytics' sidecar, with its own flush).
func playsSeed(ctx context.Context, st stackInfo, n int) (string, error) {
	a := st.app("analytics")
	start := time.Now()
	cmd := exec.CommandContext(ctx, "go", "run", "./apps/analytics/cmd/playseed", "-n", strconv.Itoa(n), "-days", "30")
	cmd.Env = append(os.Environ(), "HARMONIA_LOCAL=1", "DAPR_HTTP_PORT="+strconv.Itoa(a.DaprHTTPPort),
		"DAPR_GRPC_PORT="+strconv.Itoa(a.DaprGRPCPort), "DAPR_API_TOKEN="+a.DaprAPIToken)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("playseed: %v\n%s", err, out)
	}
	return fmt.Sprintf("the rollups of %d plays over 30 days (2,000 listeners, 2,000 tracks) added through analytics' sidecar with its flush in %s",
		n, time.Since(start).Round(time.Second)), nil
}

// analyticsReports cycles through 30-day reports: plays by track, album,
// artist and genre, listeners by country, device and age band, revenue and
// subscriptions, every fourth as an SVG chart.
func analyticsReports(base, tok string) loadgen.Request {
	kinds := []struct{ report, groupBy string }{{"plays", "track"}, {"plays", "album"}, {"plays", "artist"}, {"plays", "genre"},
		{"listeners", "country"}, {"listeners", "device"}, {"listeners", "ageBand"}, {"revenue", "plan"}, {"subscriptions", "plan"}}
	return func(ctx context.Context, c *http.Client, i int) int {
		k := kinds[i%len(kinds)]
		q := url.Values{"groupBy": {k.groupBy}}
		if i%4 == 3 {
			q.Set("format", "svg")
		}
		return get(ctx, c, base+"/admin/analytics/"+k.report+"?"+q.Encode(), tok, "")
	}
}
