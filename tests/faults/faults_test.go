package faults

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/harmonia-music/harmonia/tests/load/loadgen"
)

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// The load the faults run under: modest, steady, every kind of work.
var load = loadgen.Config{Rate: 12, Conns: 16, Timeout: 10 * time.Second}

const (
	faultWindow = 25 * time.Second // load while a fault is injected (3 s in)
	afterWindow = 30 * time.Second // load after recovery: no 5xx allowed
)

// fault is one thing broken on purpose; inject returns when it is over
// (a kill at once, a stop when the process is continued).
type fault struct {
	name   string
	inject func(t *testing.T, w *workload)
	pgOnly bool
	// quick: the catalogue must answer (503 with Retry-After) rather than
	// leave a client waiting out its timeout
	quick bool
}

func killApp(id string) fault {
	return fault{name: "kill -9 " + id, inject: func(t *testing.T, _ *workload) { signal(t, appOf(t, id).AppPID, syscall.SIGKILL) }}
}

func killSidecar(id string) fault {
	return fault{name: "kill -9 " + id + "'s sidecar", inject: func(t *testing.T, _ *workload) { signal(t, appOf(t, id).SidecarPID, syscall.SIGKILL) }}
}

func stopFor(what string, pid func(t *testing.T) int, d time.Duration) fault {
	return fault{name: fmt.Sprintf("SIGSTOP %s for %s", what, d), inject: func(t *testing.T, _ *workload) {
		p := pid(t)
		signal(t, p, syscall.SIGSTOP)
		time.Sleep(d)
		signal(t, p, syscall.SIGCONT)
	}}
}

func quickly(f fault) fault {
	f.quick = true
	return f
}

func signal(t *testing.T, pid int, sig syscall.Signal) {
	t.Helper()
	if pid <= 0 {
		t.Fatalf("no pid to send %v to", sig)
	}
	if err := syscall.Kill(pid, sig); err != nil {
		t.Fatalf("kill -%d %d: %v", sig, pid, err)
	}
}

var (
	killRedis = fault{name: "kill -9 Redis (restarted by the launcher)", inject: func(t *testing.T, _ *workload) {
		info, err := readStack()
		if err != nil || info.RedisPID == 0 {
			t.Fatalf("the launcher did not start Redis (%v)", err)
		}
		signal(t, info.RedisPID, syscall.SIGKILL)
	}}
	duplicates = fault{name: "events delivered a second time", inject: func(t *testing.T, _ *workload) {
		n := redeliver(t, map[string]string{"track.played": "albums", "payment.succeeded": "payments",
			"subscription.activated": "subscriptions", "user.registered": "auth", "audit.recorded": "",
			"albums.outbox": "albums", "payments.outbox": "payments"}, 25)
		t.Logf("republished %d captured events with their CloudEvent ids", n)
	}}
	orphans = fault{name: "outbox notices whose transaction failed", inject: func(t *testing.T, _ *workload) {
		orphanOutbox(t, 40)
	}}
	dropConnections = fault{name: "PostgreSQL connections terminated", pgOnly: true, inject: func(t *testing.T, _ *workload) {
		out, err := exec.Command("psql", "-h", "127.0.0.1", "-U", "postgres", "-qtAc",
			"select count(pg_terminate_backend(pid)) from pg_stat_activity where datname = 'harmonia' and pid <> pg_backend_pid()").CombinedOutput()
		if err != nil {
			t.Fatalf("pg_terminate_backend: %v %s", err, out)
		}
		t.Logf("terminated %s backends", strings.TrimSpace(string(out)))
	}}
)

// subset is what .ci/run runs: one of each kind.
func subset() []fault {
	return []fault{
		killApp("albums"),
		killApp("payments"),
		killSidecar("playlists"),
		killRedis,
		stopFor("Redis", func(t *testing.T) int {
			info, err := readStack()
			if err != nil || info.RedisPID == 0 {
				t.Fatalf("the launcher did not start Redis (%v)", err)
			}
			return info.RedisPID
		}, 15*time.Second),
		stopFor("payments", func(t *testing.T) int { return appOf(t, "payments").AppPID }, 15*time.Second),
		quickly(stopFor("albums' sidecar", func(t *testing.T) int { return appOf(t, "albums").SidecarPID }, 10*time.Second)),
		duplicates,
		orphans,
		dropConnections,
	}
}

// matrix is every app and every sidecar killed in turn, and the rest.
func matrix() []fault {
	var fs []fault
	info, _ := readStack()
	for _, a := range info.Apps {
		fs = append(fs, killApp(a.AppID))
	}
	for _, a := range info.Apps {
		fs = append(fs, killSidecar(a.AppID))
	}
	return append(fs, subset()[3:]...) // Redis and the rest
}

// pick is the faults FAULTS names: "" the subset, "all" the whole matrix,
// else a comma-separated list of parts of fault names ("albums' sidecar,Redis"),
// each fault whose name holds a part run in the order the parts are named.
func pick(names string) []fault {
	switch names {
	case "":
		return subset()
	case "all":
		return matrix()
	}
	var out []fault
	all := matrix()
	for _, part := range strings.Split(names, ",") { // a part named twice runs twice
		for _, f := range all {
			if part = strings.TrimSpace(part); part != "" && strings.Contains(f.name, part) {
				out = append(out, f)
			}
		}
	}
	return out
}

type row struct {
	fault, duringErrors, recover, afterErrors, invariants string
}

func TestFaults(t *testing.T) {
	w := setup(t)
	faults := pick(os.Getenv("FAULTS"))
	ctx := context.Background()
	warm := loadgen.Run(ctx, "warm-up", withDuration(15*time.Second), w.request)
	t.Logf("warm-up: %.1f/s, errors %v, %s", warm.Achieved, warm.Errors, w.describe())
	base := gatewayLevels(t)
	var rows []row
	for _, f := range faults {
		if f.pgOnly && overlay == "" {
			continue
		}
		ok := t.Run(f.name, func(t *testing.T) {
			r := runFault(t, w, f, base)
			rows = append(rows, r)
		})
		if !ok {
			t.Logf("%s failed; %s", f.name, w.describe())
		}
	}
	writeReport(t, rows)
}

func withDuration(d time.Duration) loadgen.Config {
	c := load
	c.Duration = d
	return c
}

func runFault(t *testing.T, w *workload, f fault, base levels) row {
	ctx := context.Background()
	win := newWindow()
	w.mu.Lock()
	w.window = win
	w.mu.Unlock()
	during := make(chan loadgen.Result, 1)
	go func() { during <- loadgen.Run(ctx, "during "+f.name, withDuration(faultWindow), w.request) }()
	time.Sleep(3 * time.Second)
	f.inject(t, w)
	over := time.Now()
	recovered := waitHealthy(t, w)
	rec := recovered.Sub(over)
	res := <-during
	w.mu.Lock()
	w.window = nil
	w.mu.Unlock()
	if win.noRetryAfter > 0 {
		t.Errorf("%d answers 503 without Retry-After during the fault", win.noRetryAfter)
	}
	if f.quick && win.albumTimeouts > 0 {
		t.Errorf("%d catalogue requests got no answer within the client's %s (want 503 with Retry-After)", win.albumTimeouts, load.Timeout)
	}
	after := loadgen.Run(ctx, "after "+f.name, withDuration(afterWindow), w.request)
	bad := 0
	for st, n := range after.Errors {
		if code, _ := strconv.Atoi(st); code == 0 || code >= 500 {
			bad += n
		}
	}
	if bad > 0 {
		t.Errorf("after recovery: %d answers 5xx or none in %s of load: %v", bad, afterWindow, after.Errors)
	}
	problems := checkInvariants(t, w, base)
	for _, p := range problems {
		t.Error(p)
	}
	inv := "all hold"
	if len(problems) > 0 {
		inv = strings.Join(problems, "; ")
	}
	t.Logf("%s: during %d requests (%s failed), recovered in %s, after: %v; %s", f.name, res.Requests, classes(win),
		rec.Round(100*time.Millisecond), after.Errors, w.describe())
	return row{fault: f.name, duringErrors: fmt.Sprintf("%s (of %d)", classes(win), res.Requests),
		recover: rec.Round(100 * time.Millisecond).String(), afterErrors: fmt.Sprint(bad), invariants: inv}
}

// waitHealthy waits until every app and sidecar answers its probe and the
// gateway serves an album page and a profile.
func waitHealthy(t *testing.T, w *workload) time.Time {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	c := &http.Client{Timeout: 2 * time.Second}
	ok := func(u, token string) bool {
		r := call(context.Background(), c, "GET", u, token, nil)
		return r.Status >= 200 && r.Status < 300 // daprd's healthz answers 204
	}
	for {
		healthy := true
		if info, err := readStack(); err == nil {
			if !redisAnswers(info.RedisPort) {
				healthy = false
			}
			for _, a := range info.Apps {
				if !ok("http://127.0.0.1:"+strconv.Itoa(a.AdminPort)+"/readyz", "") ||
					!ok("http://127.0.0.1:"+strconv.Itoa(a.DaprHTTPPort)+"/v1.0/healthz", "") {
					healthy = false
					break
				}
			}
		} else {
			healthy = false
		}
		l := w.listeners[0]
		if healthy && ok(gw+"/albums/"+w.albums[0], l.Token) && ok(gw+"/me", l.Token) && ok(gw+"/playlists/"+l.Playlist, l.Token) {
			return time.Now()
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stack did not recover within 3 minutes")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// redisAnswers says whether the broker answers PING.
func redisAnswers(port int) bool {
	conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
	if err != nil {
		return false
	}
	defer conn.Close()
	r, err := redisDo(conn, bufio.NewReader(conn), "PING")
	return err == nil && r == "PONG"
}

// ---- invariants ------------------------------------------------------------

// checkInvariants checks, through the public API, Mailpit and the gateway's
// metrics, what must hold after any fault. It returns what did not.
func checkInvariants(t *testing.T, w *workload, base levels) []string {
	var out []string
	out = append(out, checkCheckouts(t, w)...)
	out = append(out, checkPlays(t, w)...)
	out = append(out, checkPlaylists(t, w)...)
	out = append(out, checkMail(t, w)...)
	out = append(out, checkAudit(t, w)...)
	out = append(out, checkLevels(t, base)...)
	return out
}

type charge struct {
	Status string `json:"status"`
}

// Every accepted checkout reaches a final status; an active subscription
// has exactly one successful charge; a failed one has none left (each was
// refunded).
func checkCheckouts(t *testing.T, w *workload) []string {
	w.mu.Lock()
	recs := append([]checkoutRec(nil), w.checkouts...)
	w.mu.Unlock()
	var out []string
	deadline := time.Now().Add(3 * time.Minute)
	for i := range recs {
		rc := &recs[i]
		if rc.Sub == "" { // the answer was lost: does a subscription exist?
			r := call(context.Background(), httpc, "GET", gw+"/me/subscription", rc.Token, nil)
			var s struct {
				ID string `json:"id"`
			}
			if r.Status != 200 || json.Unmarshal(r.Body, &s) != nil {
				continue // never accepted
			}
			rc.Sub = s.ID
		}
		var s struct {
			Status, Step string
		}
		for {
			r := call(context.Background(), httpc, "GET", gw+"/subscriptions/"+rc.Sub, rc.Token, nil)
			if r.Status == 200 && json.Unmarshal(r.Body, &s) == nil && s.Status != "pending" {
				break
			}
			if time.Now().After(deadline) {
				out = append(out, fmt.Sprintf("checkout %s (card %s) still %q at step %q", rc.Sub, rc.Card, s.Status, s.Step))
				break
			}
			time.Sleep(300 * time.Millisecond)
		}
		if s.Status == "pending" {
			continue
		}
		var charges struct {
			Items []charge `json:"items"`
		}
		// a refund may still be on its way when the checkout turned failed
		for {
			must(t, "GET", gw+"/me/payments", rc.Token, nil, 200, &charges)
			succeeded := 0
			pending := false
			for _, c := range charges.Items {
				switch c.Status {
				case "succeeded":
					succeeded++
				case "processing", "refunding", "refund_failed":
					pending = true
				}
			}
			var problem string
			switch {
			case s.Status == "active" && succeeded != 1:
				problem = fmt.Sprintf("active subscription %s has %d successful charges, want 1", rc.Sub, succeeded)
			case s.Status != "active" && succeeded != 0:
				problem = fmt.Sprintf("%s subscription %s kept %d successful charges (a failed checkout refunds them)", s.Status, rc.Sub, succeeded)
			case pending:
				problem = fmt.Sprintf("subscription %s has a charge still in flight", rc.Sub)
			}
			if problem == "" {
				break
			}
			if time.Now().After(deadline) {
				out = append(out, problem)
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	return out
}

// Plays counted by analytics equal plays made: at least every play a
// listener heard whole, and no more than those plus the streams whose answer
// broke (albums may have counted them before it broke).
func checkPlays(t *testing.T, w *workload) []string {
	today := time.Now().UTC().Format("2006-01-02")
	q := url.Values{"from": {today}, "to": {today}, "groupBy": {"genre"}}
	deadline := time.Now().Add(90 * time.Second)
	var counted int64
	for {
		made, failed := w.counts()
		var rep struct {
			Series []struct {
				Total int64 `json:"total"`
			} `json:"series"`
		}
		r := call(context.Background(), httpc, "GET", gw+"/admin/analytics/plays?"+q.Encode(), w.admin, nil)
		if r.Status == 200 && json.Unmarshal(r.Body, &rep) == nil {
			counted = 0
			for _, s := range rep.Series {
				counted += s.Total
			}
			if counted > int64(made+failed) {
				return []string{fmt.Sprintf("analytics counted %d plays, more than the %d made and %d broken", counted, made, failed)}
			}
			if counted >= int64(made) {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return []string{fmt.Sprintf("analytics counted %d plays of %d made", counted, made)}
		}
		time.Sleep(time.Second)
	}
}

// No playlist lost an entry an answer acknowledged.
func checkPlaylists(t *testing.T, w *workload) []string {
	var out []string
	w.mu.Lock()
	acked := map[string]bool{}
	for k := range w.entries {
		acked[k] = true
	}
	w.mu.Unlock()
	for _, l := range w.listeners {
		var p struct {
			Entries []struct {
				ID string `json:"id"`
			} `json:"entries"`
		}
		must(t, "GET", gw+"/playlists/"+l.Playlist, l.Token, nil, 200, &p)
		have := map[string]bool{}
		for _, e := range p.Entries {
			have[e.ID] = true
		}
		lost := 0
		for k := range acked {
			pl, id, _ := strings.Cut(k, "|")
			if pl == l.Playlist && !have[id] {
				lost++
			}
		}
		if lost > 0 {
			out = append(out, fmt.Sprintf("playlist %s lost %d acknowledged entries", l.Playlist, lost))
		}
	}
	return out
}

type mail struct {
	Subject string `json:"Subject"`
	To      []struct {
		Address string `json:"Address"`
	} `json:"To"`
}

// Every notification due was sent exactly once: each account one welcome,
// each active subscription one receipt, a failed checkout none.
func checkMail(t *testing.T, w *workload) []string {
	w.mu.Lock()
	registered := append([]string(nil), w.registered...)
	recs := append([]checkoutRec(nil), w.checkouts...)
	w.mu.Unlock()
	active := map[string]bool{}
	for _, rc := range recs {
		r := call(context.Background(), httpc, "GET", gw+"/me/subscription", rc.Token, nil)
		var s struct{ Status string }
		if r.Status == 200 && json.Unmarshal(r.Body, &s) == nil && s.Status == "active" {
			active[rc.Email] = true
		}
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		got := mailCounts(t)
		var out []string
		late := false
		for _, e := range registered {
			welcome, receipt := got[e]["Welcome to Harmonia"], got[e]["Your Harmonia receipt: Individual"]
			want := 0
			if active[e] {
				want = 1
			}
			switch {
			case welcome > 1 || receipt > want:
				out = append(out, fmt.Sprintf("%s got %d welcome and %d receipt emails, want 1 and %d", e, welcome, receipt, want))
			case welcome < 1 || receipt < want:
				late = true
				if time.Now().After(deadline) {
					out = append(out, fmt.Sprintf("%s got %d welcome and %d receipt emails, want 1 and %d", e, welcome, receipt, want))
				}
			}
		}
		if len(out) > 0 || !late {
			return out
		}
		time.Sleep(time.Second)
	}
}

// mailCounts counts Mailpit's messages by recipient and subject.
func mailCounts(t *testing.T) map[string]map[string]int {
	info, err := readStack()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]map[string]int{}
	for start := 0; ; start += 500 {
		var page struct {
			Total    int    `json:"total"`
			Messages []mail `json:"messages"`
		}
		resp, err := httpc.Get(info.MailpitURL + "/api/v1/messages?limit=500&start=" + strconv.Itoa(start))
		if err != nil {
			t.Fatalf("mailpit: %v", err)
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("mailpit: %v", err)
		}
		for _, m := range page.Messages {
			for _, to := range m.To {
				a := strings.ToLower(to.Address)
				if counts[a] == nil {
					counts[a] = map[string]int{}
				}
				counts[a][m.Subject]++
			}
		}
		if len(page.Messages) < 500 {
			return counts
		}
	}
}

// The audit chain verifies.
func checkAudit(t *testing.T, w *workload) []string {
	var v struct {
		OK      bool `json:"ok"`
		Entries int  `json:"entries"`
	}
	r := call(context.Background(), &http.Client{Timeout: 60 * time.Second}, "GET", gw+"/admin/audit/verify", w.admin, nil)
	if r.Status != 200 || json.Unmarshal(r.Body, &v) != nil || !v.OK {
		return []string{fmt.Sprintf("the audit chain does not verify: %d %s", r.Status, r.Body)}
	}
	return nil
}

// levels are the gateway's goroutines and resident memory.
type levels struct{ goroutines, rss float64 }

func gatewayLevels(t *testing.T) levels {
	a := appOf(t, "gateway")
	resp, err := httpc.Get("http://127.0.0.1:" + strconv.Itoa(a.AdminPort) + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var l levels
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			continue
		}
		v, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "go_goroutines":
			l.goroutines = v
		case "process_resident_memory_bytes":
			l.rss = v
		}
	}
	return l
}

// After recovery the gateway's goroutines and memory are back within 20 %
// of their level under the same load before any fault (with a small floor:
// a handful of goroutines, 8 MiB).
func checkLevels(t *testing.T, base levels) []string {
	now := gatewayLevels(t)
	var out []string
	if now.goroutines > base.goroutines*1.2+10 {
		out = append(out, fmt.Sprintf("the gateway holds %.0f goroutines, %.0f before the faults", now.goroutines, base.goroutines))
	}
	if now.rss > base.rss*1.2+8<<20 {
		out = append(out, fmt.Sprintf("the gateway's memory is %.0f MiB, %.0f MiB before the faults", now.rss/(1<<20), base.rss/(1<<20)))
	}
	if len(out) > 0 {
		saveGoroutines(t)
	}
	return out
}

// saveGoroutines keeps the gateway's goroutine profile (the launcher runs
// with -pprof: app port + 200) under .data/faults/, to say what it holds.
func saveGoroutines(t *testing.T) {
	a := appOf(t, "gateway")
	resp, err := httpc.Get("http://127.0.0.1:" + strconv.Itoa(a.PprofPort) + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Logf("goroutine profile: %v", err)
		return
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	dir := filepath.Join(root, ".data", "faults")
	_ = os.MkdirAll(dir, 0o755)
	name := filepath.Join(dir, "gateway-goroutines-"+time.Now().UTC().Format("150405")+".txt")
	if err := os.WriteFile(name, b, 0o644); err == nil {
		t.Logf("the gateway's goroutines: %s", name)
	}
}

func writeReport(t *testing.T, rows []row) {
	set := "SQLite"
	if overlay != "" {
		set = overlay
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Fault report (%s, %s)\n\nLoad: %.0f requests/s (album pages, streams with plays, playlist edits, profile and payment reads, search, checkouts with a mix of test cards), %s per fault window (fault at 3 s), then %s after recovery.\n\n",
		set, time.Now().UTC().Format(time.RFC3339), load.Rate, faultWindow, afterWindow)
	b.WriteString("| fault | client errors during (5xx or none / requests) | time to recover | 5xx after | invariants |\n|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", r.fault, r.duringErrors, r.recover, r.afterErrors, r.invariants)
	}
	dir := filepath.Join(root, ".data", "faults")
	_ = os.MkdirAll(dir, 0o755)
	name := "report.md"
	if overlay != "" {
		name = "report-postgres.md"
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(b.String()), 0o644); err != nil {
		t.Error(err)
	}
	t.Logf("\n%s", b.String())
}
