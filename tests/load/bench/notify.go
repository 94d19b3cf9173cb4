package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/harmonia-music/harmonia/internal/devstack"
	"github.com/harmonia-music/harmonia/internal/platform/state"
	"github.com/harmonia-music/harmonia/internal/synth"
	"github.com/harmonia-music/harmonia/tests/load/loadgen"
)

// adminLogin signs the seed administrator in.
func adminLogin(ctx context.Context, base string) (string, error) {
	var admin struct{ AccessToken string }
	pw := os.Getenv("HARMONIA_ADMIN_PASSWORD")
	if pw == "" {
		pw = devstack.AdminDefaultPassword
	}
	err := call(ctx, http.MethodPost, base+"/auth/login", "", map[string]string{"email": devstack.AdminEmail, "password": pw}, &admin)
	return admin.AccessToken, err
}

// newArtist makes (as the seed administrator) a listener with the artist
// role who manages a new catalogue artist; it returns the artist's token
// and the artist's id.
func newArtist(ctx context.Context, base, name string) (token, artistID string, err error) {
	admin, err := adminLogin(ctx, base)
	if err != nil {
		return "", "", err
	}
	email, pw := fmt.Sprintf("bench-artist-%d@example.com", time.Now().UnixNano()), "bench-password-1"
	var tk struct{ AccessToken, UserID string }
	if err := call(ctx, http.MethodPost, base+"/auth/register", "", map[string]any{"email": email, "password": pw, "displayName": name}, &tk); err != nil {
		return "", "", err
	}
	if err := call(ctx, http.MethodPut, base+"/admin/users/"+tk.UserID+"/roles", admin, map[string]any{"roles": []string{"listener", "artist"}}, nil); err != nil {
		return "", "", err
	}
	var a struct{ ID string }
	if err := call(ctx, http.MethodPost, base+"/artists", admin, map[string]any{"name": name, "genres": []string{"folk"}, "ownerUserId": tk.UserID}, &a); err != nil {
		return "", "", err
	}
	if err := call(ctx, http.MethodPost, base+"/auth/login", "", map[string]string{"email": email, "password": pw}, &tk); err != nil {
		return "", "", err
	}
	return tk.AccessToken, a.ID, nil
}

// releaseAlbum creates an album with one track and its audio, ready to publish.
func releaseAlbum(ctx context.Context, base, tok, artistID string, i int) (string, error) {
	var al struct{ ID string }
	if err := call(ctx, http.MethodPost, base+"/albums", tok, map[string]any{"artistId": artistID, "title": fmt.Sprintf("Bench release %d", i),
		"genre": "folk", "releaseDate": "2025-01-01"}, &al); err != nil {
		return "", err
	}
	var tr struct{ ID string }
	if err := call(ctx, http.MethodPost, base+"/albums/"+al.ID+"/tracks", tok, map[string]any{"title": "Song", "trackNumber": 1}, &tr); err != nil {
		return "", err
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPut, base+"/tracks/"+tr.ID+"/audio", bytes.NewReader(synth.WAV(uint64(i), 1, 8000)))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "audio/wav")
	resp, err := setupClient.Do(req)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("audio upload: %d", resp.StatusCode)
	}
	return al.ID, nil
}

// notifyLatency measures, over n releases, the time from an artist's
// publish request to the follower's live stream (server-sent events through
// the gateway) carrying the new-release notification.
func notifyLatency(ctx context.Context, base string, n int) (loadgen.Result, error) {
	res := loadgen.Result{Scenario: "notify"}
	tok, artistID, err := newArtist(ctx, base, "Bench Notify Artist")
	if err != nil {
		return res, err
	}
	email := fmt.Sprintf("bench-fan-%d@example.com", time.Now().UnixNano())
	var fan struct{ AccessToken string }
	if err := call(ctx, http.MethodPost, base+"/auth/register", "", map[string]any{"email": email, "password": "bench-password-1", "displayName": "Fan"}, &fan); err != nil {
		return res, err
	}
	if err := call(ctx, http.MethodPut, base+"/me/following/"+artistID, fan.AccessToken, nil, nil); err != nil {
		return res, err
	}
	albums := make([]string, n)
	for i := range albums {
		if albums[i], err = releaseAlbum(ctx, base, tok, artistID, i); err != nil {
			return res, err
		}
	}
	time.Sleep(time.Second) // artist.followed reaches notifications
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, _ := http.NewRequestWithContext(sctx, http.MethodGet, base+"/me/notifications/stream", nil)
	req.Header.Set("Authorization", "Bearer "+fan.AccessToken)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		return res, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		return res, fmt.Errorf("stream: %d %s", resp.StatusCode, b)
	}
	arrived := make(chan string, n)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if line := sc.Text(); strings.HasPrefix(line, "data: ") {
				var it struct{ Link string }
				if json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &it) == nil {
					arrived <- strings.TrimPrefix(it.Link, "/albums/")
				}
			}
		}
		close(arrived)
	}()
	var lat []float64
	missed := 0
	for _, id := range albums {
		start := time.Now()
		if err := call(ctx, http.MethodPost, base+"/albums/"+id+"/publish", tok, nil, nil); err != nil {
			return res, err
		}
		wait := time.After(30 * time.Second)
	await:
		for {
			select {
			case got, ok := <-arrived:
				if !ok {
					return res, fmt.Errorf("the stream ended")
				}
				if got == id {
					lat = append(lat, float64(time.Since(start).Microseconds())/1000)
					break await
				}
			case <-wait:
				missed++
				break await
			}
		}
		time.Sleep(200 * time.Millisecond) // one release at a time, as artists publish
	}
	res.Requests = len(lat)
	res.Summarize(lat)
	if missed > 0 {
		res.Errors = map[string]int{"not on the stream within 30 s": missed}
	}
	res.Notes = fmt.Sprintf("%d releases, one at a time; latency from sending POST /albums/{id}/publish to the follower's live stream (SSE through the gateway, both sidecars and the broker) carrying it; target: within 2 s", n)
	return res, nil
}

// fanOut measures telling one new release to an artist with n followers.
// Their accounts and the follower list are generated straight into users'
// and notifications' stores through their own sidecars (registering n
// accounts through auth would take hours of password hashing): each gets a
// profile, preferences with in-app on and email off, and a place in the
// artist's follower list, in the key layouts those services use
// (apps/users/internal/app, apps/notifications/internal/app). The fan-out
// itself is the real one: pages of listeners, contacts from users by
// invocation, in-app writes in batches, the live broadcast.
func fanOut(ctx context.Context, st stackInfo, n int) (loadgen.Result, error) {
	res := loadgen.Result{Scenario: "fanout"}
	base := st.GatewayURL + "/api/v1"
	tok, artistID, err := newArtist(ctx, base, "Bench Fan-out Artist")
	if err != nil {
		return res, err
	}
	albumID, err := releaseAlbum(ctx, base, tok, artistID, 1)
	if err != nil {
		return res, err
	}
	users, notif := st.app("users"), st.app("notifications")
	seedStart := time.Now()
	now := time.Now().UTC()
	shards := make([]map[string]any, 64)
	for i := range shards {
		shards[i] = map[string]any{}
	}
	var batch []map[string]any
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := sidecarSave(ctx, users, "users-store", batch)
		batch = batch[:0]
		return err
	}
	for i := 0; i < n; i++ {
		id := uuid.NewString()
		batch = append(batch,
			map[string]any{"key": "profile|" + id, "value": map[string]any{"id": id, "email": fmt.Sprintf("fan-%d@bench.invalid", i),
				"displayName": fmt.Sprintf("Fan %d", i), "createdAt": now, "updatedAt": now}},
			map[string]any{"key": "prefs|" + id, "value": map[string]any{"favouriteGenres": []string{},
				"notifications": map[string]bool{"email": false, "sms": false, "inApp": true}, "marketingOptIn": false, "updatedAt": now}})
		shards[state.ShardOf(id, 64)][id] = map[string]any{"on": true, "at": now}
		if len(batch) >= 1000 {
			if err := flush(); err != nil {
				return res, err
			}
		}
	}
	if err := flush(); err != nil {
		return res, err
	}
	for i, s := range shards {
		if err := sidecarSave(ctx, notif, "notifications-store", []map[string]any{{"key": fmt.Sprintf("members|followers|%s|%d", artistID, i),
			"value": map[string]any{"users": s}}}); err != nil {
			return res, err
		}
	}
	seeded := time.Since(seedStart)
	metrics := fmt.Sprintf("http://127.0.0.1:%d/metrics", notif.AdminPort)
	before := promValue(metrics, "harmonia_notifications_fanouts_total")
	start := time.Now()
	if err := call(ctx, http.MethodPost, base+"/albums/"+albumID+"/publish", tok, nil, nil); err != nil {
		return res, err
	}
	// other fan-outs (the notify scenario's releases) may finish meanwhile:
	// wait for the one that reached n listeners
	if err := waitUntil(ctx, 30*time.Minute, 500*time.Millisecond, func() bool {
		return promValue(metrics, "harmonia_notifications_fanouts_total") > before && promValue(metrics, "harmonia_notifications_fanout_last_reached") >= float64(n)
	}); err != nil {
		return res, fmt.Errorf("the fan-out to %d followers: %w", n, err)
	}
	total := time.Since(start)
	own := promValue(metrics, "harmonia_notifications_fanout_last_seconds")
	rss := rssOf(ctx, map[string]int{"notifications": notif.AppPID, "notifications-daprd": notif.SidecarPID, "users": users.AppPID})
	res.Requests = 1
	res.Summarize([]float64{float64(total.Milliseconds())})
	res.Notes = fmt.Sprintf("one release to %d followers (in-app on, email off; generated in %s): %s from the publish request to the last listener's notification stored (%.1f s by notifications' own measure, from album.published), %.0f notifications per second; resident memory after: notifications %.0f MB, its sidecar %.0f MB, users %.0f MB",
		n, seeded.Round(time.Second), total.Round(100*time.Millisecond), own, float64(n)/total.Seconds(), rss["notifications"], rss["notifications-daprd"], rss["users"])
	return res, nil
}

// waitUntil checks done every interval until it holds; it fails when ctx
// ends or limit passes first.
func waitUntil(ctx context.Context, limit, every time.Duration, done func() bool) error {
	deadline := time.Now().Add(limit)
	for !done() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not done in %s", limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(every):
		}
	}
	return nil
}

// rssOf samples the resident memory of processes, in MB.
func rssOf(ctx context.Context, procs map[string]int) map[string]float64 {
	return loadgen.Run(ctx, "rss", loadgen.Config{Rate: 1, Duration: time.Second, Procs: procs},
		func(context.Context, *http.Client, int) int { return 200 }).RSSMB
}

// sidecarSave writes items through an app's own sidecar, in one state
// transaction (one SQLite transaction: a bulk save writes row by row).
func sidecarSave(ctx context.Context, a appInfo, store string, items []map[string]any) error {
	ops := make([]map[string]any, len(items))
	for i, it := range items {
		ops[i] = map[string]any{"operation": "upsert", "request": it}
	}
	b, _ := json.Marshal(map[string]any{"operations": ops})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, fmt.Sprintf("http://127.0.0.1:%d/v1.0/state/%s/transaction", a.DaprHTTPPort, store), bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("dapr-api-token", a.DaprAPIToken)
	resp, err := (&http.Client{Timeout: 5 * time.Minute}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		body, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("save to %s: %d %s", store, resp.StatusCode, body)
	}
	return nil
}

// promValue reads one unlabelled Prometheus series (0 when absent).
func promValue(url, name string) float64 {
	resp, err := setupClient.Get(url)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == name {
			var v float64
			fmt.Sscan(f[1], &v)
			return v
		}
	}
	return 0
}
