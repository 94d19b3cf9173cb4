package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/harmonia-music/harmonia/tests/load/loadgen"
)

// auditIngest publishes n audit.recorded events at once through a
// publisher's sidecar (Dapr's bulk publish, 500 a request) and measures how
// fast logging appends them to its chain: the sustained rate of the whole
// path (broker, delivery, one writer, the store).
func auditIngest(ctx context.Context, st stackInfo, n int) (loadgen.Result, error) {
	res := loadgen.Result{Scenario: "audit-ingest"}
	users, logging := st.app("users"), st.app("logging")
	metrics := fmt.Sprintf("http://127.0.0.1:%d/metrics", logging.AdminPort)
	before := promValue(metrics, "harmonia_audit_entries_total")
	start := time.Now()
	now := time.Now().UTC()
	for sent := 0; sent < n; {
		k := min(500, n-sent)
		entries := make([]map[string]any, k)
		for i := range entries {
			entries[i] = map[string]any{"entryId": strconv.Itoa(sent + i), "contentType": "application/json",
				"event": map[string]any{"actor": auditActor((sent + i) % 1000), "action": "auth.login.succeeded", "subjectType": "user",
					"subjectId": auditActor((sent + i) % 1000), "outcome": "success", "requestId": uuid.NewString(), "at": now}}
		}
		if err := bulkPublish(ctx, users, "pubsub", "audit.recorded", entries); err != nil {
			return res, err
		}
		sent += k
	}
	published := time.Since(start)
	if err := waitUntil(ctx, 20*time.Minute, 100*time.Millisecond, func() bool {
		return promValue(metrics, "harmonia_audit_entries_total") >= before+float64(n)
	}); err != nil {
		return res, fmt.Errorf("logging appended %.0f of %d events: %w", promValue(metrics, "harmonia_audit_entries_total")-before, n, err)
	}
	took := time.Since(start)
	batches := promValue(metrics, "harmonia_audit_batches_total")
	rss := rssOf(ctx, map[string]int{"logging": logging.AppPID, "logging-daprd": logging.SidecarPID})
	res.Requests = n
	res.Achieved = float64(n) / took.Seconds()
	res.Notes = fmt.Sprintf("%d audit.recorded events bulk-published through users' sidecar in %s, all appended to the chain %s after the first was sent: %.0f events per second sustained (%.0f batches in all so far); resident memory after: logging %.0f MB, its sidecar %.0f MB",
		n, published.Round(10*time.Millisecond), took.Round(10*time.Millisecond), res.Achieved, batches, rss["logging"], rss["logging-daprd"])
	return res, nil
}

// auditActor is auditseed's i-th generated user (apps/logging/cmd/auditseed.Actor).
func auditActor(i int) string {
	return uuid.NewSHA1(uuid.NameSpaceOID, []byte(fmt.Sprintf("auditseed-user-%d", i))).String()
}

func bulkPublish(ctx context.Context, a appInfo, component, topic string, entries []map[string]any) error {
	b, _ := json.Marshal(entries)
	u := fmt.Sprintf("http://127.0.0.1:%d/v1.0-alpha1/publish/bulk/%s/%s", a.DaprHTTPPort, component, topic)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("dapr-api-token", a.DaprAPIToken)
	resp, err := setupClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		body, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("bulk publish: %d %s", resp.StatusCode, body)
	}
	return nil
}

// auditSeed fills logging's store to total entries with auditseed (through
// logging's sidecar, with logging's own writer) and returns what it did.
func auditSeed(ctx context.Context, st stackInfo, total int) (string, error) {
	logging := st.app("logging")
	metrics := fmt.Sprintf("http://127.0.0.1:%d/metrics", logging.AdminPort)
	have := int(promValue(metrics, "harmonia_audit_entries_total"))
	n := total - have
	if n <= 0 {
		return "", nil
	}
	start := time.Now()
	cmd := exec.CommandContext(ctx, "go", "run", "./apps/logging/cmd/auditseed", "-n", strconv.Itoa(n), "-actors", "10000", "-days", "30")
	cmd.Env = append(os.Environ(), "HARMONIA_LOCAL=1", "DAPR_HTTP_PORT="+strconv.Itoa(logging.DaprHTTPPort),
		"DAPR_GRPC_PORT="+strconv.Itoa(logging.DaprGRPCPort), "DAPR_API_TOKEN="+logging.DaprAPIToken)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("auditseed: %v\n%s", err, out)
	}
	return fmt.Sprintf("%d entries generated through logging's sidecar with its writer in %s (%.0f per second)", n, time.Since(start).Round(time.Second),
		float64(n)/time.Since(start).Seconds()), nil
}

// auditQueries cycles through the admin's usual questions of a large log:
// one user's actions, the newest of one action, one hour of one day, and one
// action over one day deep in the past.
func auditQueries(base, tok string, days int) loadgen.Request {
	actionsList := []string{"payment.charged", "auth.login.failed", "subscription.renewed", "playlist.deleted"}
	now := time.Now().UTC()
	return func(ctx context.Context, c *http.Client, i int) int {
		q := url.Values{}
		day := now.Add(-time.Duration(1+i%(days-1)) * 24 * time.Hour)
		switch i % 4 {
		case 0:
			q.Set("actor", auditActor(i*7919%10000))
		case 1:
			q.Set("action", actionsList[i%len(actionsList)])
		case 2:
			q.Set("from", day.Truncate(time.Hour).Format(time.RFC3339))
			q.Set("to", day.Truncate(time.Hour).Add(time.Hour).Format(time.RFC3339))
		case 3:
			q.Set("action", actionsList[i%len(actionsList)])
			q.Set("from", day.Format("2006-01-02"))
			q.Set("to", day.Format("2006-01-02"))
		}
		return get(ctx, c, base+"/admin/audit?"+q.Encode(), tok, "")
	}
}

// auditVerify times verify over the last day and over everything.
func auditVerify(ctx context.Context, base, tok string) string {
	out := ""
	for _, q := range []string{"from=" + time.Now().UTC().Add(-24*time.Hour).Format("2006-01-02"), ""} {
		start := time.Now()
		var v struct {
			OK      bool  `json:"ok"`
			Entries int64 `json:"entries"`
		}
		err := call(ctx, http.MethodGet, base+"/admin/audit/verify?"+q, tok, nil, &v)
		what := "the whole chain"
		if q != "" {
			what = "from yesterday"
		}
		if err != nil {
			out += fmt.Sprintf("; verify %s: %v after %s", what, err, time.Since(start).Round(100*time.Millisecond))
			continue
		}
		out += fmt.Sprintf("; verify %s: ok=%v over %d entries in %s", what, v.OK, v.Entries, time.Since(start).Round(100*time.Millisecond))
	}
	return out
}
