// Command bench runs Harmonia's benchmarks: it starts the stack and the Dapr
// floor with the project's launcher, drives each scenario at a constant
// arrival rate, and writes bench/results/<date>-<scenario>.json and a
// Markdown summary that sets every scenario next to the floor of the same run.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/harmonia-music/harmonia/tests/launch"
	"github.com/harmonia-music/harmonia/tests/load/loadgen"
)

type appInfo struct {
	AppID        string `json:"appId"`
	AppPort      int    `json:"appPort"`
	DaprHTTPPort int    `json:"daprHttpPort"`
	DaprGRPCPort int    `json:"daprGrpcPort"`
	AppPID       int    `json:"appPid"`
	SidecarPID   int    `json:"sidecarPid"`
	DaprAPIToken string `json:"daprApiToken"`
	AdminPort    int    `json:"adminPort"`
	PprofPort    int    `json:"pprofPort"`
}

type stackInfo struct {
	GatewayURL string    `json:"gatewayUrl"`
	Apps       []appInfo `json:"apps"`
}

func (s stackInfo) app(id string) appInfo {
	for _, a := range s.Apps {
		if a.AppID == id {
			return a
		}
	}
	return appInfo{}
}

func (s stackInfo) procs() map[string]int {
	out := map[string]int{}
	for _, a := range s.Apps {
		out[a.AppID] = a.AppPID
		out[a.AppID+"-daprd"] = a.SidecarPID
	}
	return out
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type options struct {
	scenarios                       string
	floorRate, readRate, loginRate  float64
	mixRate, checkoutRate           float64
	workflowRate                    float64
	stepDuration, stepWarmup        time.Duration
	floorSteps, readSteps           []float64
	workflowSteps, checkoutSteps    []float64
	searchRate, streamRate          float64
	notifyReleases, fanoutFollowers int
	auditEvents, auditEntries       int
	auditQueryRate                  float64
	analyticsPlays, analyticsStored int
	analyticsQueryRate              float64
	duration, warmup                time.Duration
	conns                           int
	out, catalog, overlay           string
	loadBefore                      string
}

func run(ctx context.Context) error {
	var o options
	flag.StringVar(&o.scenarios, "scenarios", "floor,read,login,mix,search-index,suggest,search,stream,notify,fanout,workflow-floor,checkout,audit,analytics,capacity", "scenarios to run, in order")
	flag.IntVar(&o.analyticsPlays, "analytics-plays", 10_000, "analytics scenario: track.played events sent at once, then counted exactly")
	flag.IntVar(&o.analyticsStored, "analytics-stored", 1_000_000, "analytics scenario: plays (their rollups, generated) behind the 30-day reports")
	flag.Float64Var(&o.analyticsQueryRate, "analytics-query-rate", 50, "analytics scenario: reports per second")
	flag.IntVar(&o.auditEvents, "audit-events", 20_000, "audit scenario: events published at once to measure logging's sustained rate")
	flag.IntVar(&o.auditEntries, "audit-entries", 1_000_000, "audit scenario: entries in the log (generated) before the queries")
	flag.Float64Var(&o.auditQueryRate, "audit-query-rate", 50, "audit scenario: admin queries per second")
	flag.IntVar(&o.notifyReleases, "notify-releases", 100, "notify scenario: releases published, one at a time")
	flag.IntVar(&o.fanoutFollowers, "fanout-followers", 100_000, "fanout scenario: followers of the artist")
	flag.Float64Var(&o.floorRate, "floor-rate", 500, "floor requests per second")
	flag.Float64Var(&o.readRate, "read-rate", 500, "read scenario requests per second")
	flag.Float64Var(&o.loginRate, "login-rate", 40, "login scenario requests per second")
	flag.Float64Var(&o.mixRate, "mix-rate", 300, "mix scenario requests per second")
	flag.Float64Var(&o.checkoutRate, "checkout-rate", 50, "checkouts started per second")
	flag.Float64Var(&o.workflowRate, "workflow-rate", 50, "workflow-floor scenario: bare workflows started per second")
	flag.DurationVar(&o.stepDuration, "step-duration", 8*time.Second, "capacity searches: measured time per step")
	flag.DurationVar(&o.stepWarmup, "step-warmup", 2*time.Second, "capacity searches: unmeasured warm-up per step")
	floorSteps := flag.String("floor-steps", "250,500,750,1000,1500,2000,3000,4000", "capacity scenario: rates tried for the floor, in order, until p99 passes 25 ms")
	readSteps := flag.String("read-steps", "250,500,750,1000,1500,2000,3000", "capacity scenario: rates tried for read, in order, until p99 passes 25 ms")
	workflowSteps := flag.String("workflow-steps", "25,50,100,150,200,300,400", "capacity scenario: rates tried for the workflow floor, in order, until p99 completion passes 1 s")
	checkoutSteps := flag.String("checkout-steps", "25,50,75,100,150,200,300", "capacity scenario: rates tried for checkout, in order, until p99 completion passes 1 s")
	flag.Float64Var(&o.searchRate, "search-rate", 300, "suggest and search scenarios: requests per second")
	flag.Float64Var(&o.streamRate, "stream-rate", 100, "stream scenario: requests per second (ranges after seeks, and whole tracks)")
	flag.DurationVar(&o.duration, "duration", 20*time.Second, "measured time per scenario")
	flag.DurationVar(&o.warmup, "warmup", 5*time.Second, "unmeasured warm-up per scenario")
	flag.IntVar(&o.conns, "conns", 16, "connections")
	flag.StringVar(&o.out, "out", "bench/results", "results folder")
	flag.StringVar(&o.catalog, "catalog", "demo", "seed catalogue of the benchmarked stack: demo or large")
	flag.StringVar(&o.overlay, "resources-overlay", "", "a folder of Dapr resources that replace the stack's same-named files (components/postgres: state on PostgreSQL; the workflow floor's store then comes from tests/load/floor-components/postgres)")
	flag.Parse()
	for _, f := range []struct {
		s   string
		dst *[]float64
	}{{*floorSteps, &o.floorSteps}, {*readSteps, &o.readSteps}, {*workflowSteps, &o.workflowSteps}, {*checkoutSteps, &o.checkoutSteps}} {
		v, err := parseRates(f.s)
		if err != nil {
			return err
		}
		*f.dst = v
	}

	o.loadBefore = loadAvg()
	root, _ := filepath.Abs(".")
	tmp, err := os.MkdirTemp("", "harmonia-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	launcher := filepath.Join(tmp, "devstack")
	if out, err := exec.Command("go", "build", "-o", launcher, "./cmd/devstack").CombinedOutput(); err != nil {
		return fmt.Errorf("build launcher: %v\n%s", err, out)
	}
	env := append(os.Environ(), "GATEWAY_RATE_PER_SECOND=1000000", "GATEWAY_RATE_BURST=1000000", "LOGGING_CHECKPOINT_EVERY=30s")
	fmt.Println("starting the stack and the floor…")
	mainArgs, floorArgs := []string{"-catalog", o.catalog, "-pprof"}, []string{"-seed=false", "-catalog", "none"}
	if o.overlay != "" {
		mainArgs = append(mainArgs, "-resources-overlay", filepath.Join(root, o.overlay))
		floorArgs = append(floorArgs, "-resources-overlay", filepath.Join(root, "tests/load/floor-components/postgres"))
	}
	mainStack, stopMain, err := startStack(ctx, launcher, env, filepath.Join(root, "dapr.yaml"), filepath.Join(tmp, "main", ".data"), 13000, mainArgs...)
	if err != nil {
		return err
	}
	defer stopMain()
	floor, stopFloor, err := startStack(ctx, launcher, env, filepath.Join(root, "tests/load/floor.dapr.yaml"), filepath.Join(tmp, "floor", ".data"), 11000, floorArgs...)
	if err != nil {
		return err
	}
	defer stopFloor()

	time.Sleep(3 * time.Second) // let start-up work settle before the idle sample
	idle := loadgen.Run(ctx, "idle", loadgen.Config{Rate: 1, Duration: time.Second, Procs: mainStack.procs()},
		func(context.Context, *http.Client, int) int { return 200 })

	fx, err := prepare(ctx, mainStack.GatewayURL+"/api/v1")
	if err != nil {
		return err
	}
	date := time.Now().UTC().Format("2006-01-02T1504")
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	var results []loadgen.Result
	cfg := func(rate float64, procs map[string]int) loadgen.Config {
		return loadgen.Config{Rate: rate, Duration: o.duration, Warmup: o.warmup, Conns: o.conns, Procs: procs}
	}
	body := bytes.Repeat([]byte("x"), 1024)
	for _, sc := range strings.Split(o.scenarios, ",") {
		var res loadgen.Result
		switch sc {
		case "floor":
			echo, caller := floor.app("floor-echo"), floor.app("floor-caller")
			direct := fmt.Sprintf("http://127.0.0.1:%d/echo", echo.AppPort)
			res = loadgen.Run(ctx, "floor-direct", cfg(o.floorRate, floor.procs()), post(direct, body, nil))
			save(o.out, date, res, &results)
			via := fmt.Sprintf("http://127.0.0.1:%d/echo", caller.DaprHTTPPort)
			res = loadgen.Run(ctx, "floor", cfg(o.floorRate, floor.procs()), post(via, body,
				map[string]string{"dapr-app-id": "floor-echo", "dapr-api-token": caller.DaprAPIToken}))
		case "read":
			prof := profileApps(ctx, mainStack, o.warmup, o.duration, filepath.Join(o.out, date+"-read"))
			res = loadgen.Run(ctx, "read", cfg(o.readRate, mainStack.procs()), func(ctx context.Context, c *http.Client, i int) int {
				return get(ctx, c, fx.base+"/albums/"+fx.albums[i%len(fx.albums)], fx.tokens[i%len(fx.tokens)], "")
			})
			res.Notes = prof(res)
		case "login":
			res = loadgen.Run(ctx, "login", cfg(o.loginRate, mainStack.procs()), func(ctx context.Context, c *http.Client, i int) int {
				u := fx.users[i%len(fx.users)]
				return send(ctx, c, http.MethodPost, fx.base+"/auth/login", "", map[string]string{"email": u[0], "password": u[1]}, nil)
			})
		case "mix":
			prof := profileApps(ctx, mainStack, o.warmup, o.duration, filepath.Join(o.out, date+"-mix"))
			res = loadgen.Run(ctx, "mix", cfg(o.mixRate, mainStack.procs()), fx.mix)
			res.Notes = prof(res)
		case "search-index":
			notes, err := indexReport(ctx, mainStack, filepath.Join(tmp, "main", ".data"))
			if err != nil {
				return err
			}
			res = loadgen.Result{Scenario: "search-index", Notes: notes}
		case "suggest":
			res = loadgen.Run(ctx, "suggest", cfg(o.searchRate, mainStack.procs()), fx.suggest)
		case "search":
			res = loadgen.Run(ctx, "search", cfg(o.searchRate, mainStack.procs()), fx.search)
		case "notify":
			r, err := notifyLatency(ctx, fx.base, o.notifyReleases)
			if err != nil {
				return err
			}
			res = r
		case "fanout":
			r, err := fanOut(ctx, mainStack, o.fanoutFollowers)
			if err != nil {
				return err
			}
			res = r
		case "workflow-floor":
			res = runWorkflowFloor(ctx, floor, cfg(o.workflowRate, floor.procs()))
			res.Notes = "latency: from the intended send of POST /run to the bare workflow's completion (three no-op activities, SQLite actor state store, one sidecar)"
		case "checkout":
			r, err := runCheckout(ctx, fx.base, cfg(o.checkoutRate, mainStack.procs()))
			if err != nil {
				return err
			}
			res = r
		case "capacity":
			rs, err := capacities(ctx, o, floor, mainStack, fx, body)
			for _, r := range rs {
				save(o.out, date, r, &results)
			}
			if err != nil {
				return err
			}
			continue
		case "stream":
			r, err := streamScenario(ctx, mainStack, fx.base, o.streamRate, o.warmup, o.duration, o.conns)
			if err != nil {
				return err
			}
			res = r
		case "audit":
			ingest, err := auditIngest(ctx, mainStack, o.auditEvents)
			if err != nil {
				return err
			}
			save(o.out, date, ingest, &results)
			seeded, err := auditSeed(ctx, mainStack, o.auditEntries)
			if err != nil {
				return err
			}
			tok, err := adminLogin(ctx, fx.base)
			if err != nil {
				return err
			}
			res = loadgen.Run(ctx, "audit-query", cfg(o.auditQueryRate, mainStack.procs()), auditQueries(fx.base, tok, 30))
			res.Notes = fmt.Sprintf("queries of a log of %d entries (%s), cycling: one user's actions, the newest of one action, one hour, one action over one day deep in the past; each read is itself recorded%s",
				o.auditEntries, seeded, auditVerify(ctx, fx.base, tok))
		case "analytics":
			tok, err := adminLogin(ctx, fx.base)
			if err != nil {
				return err
			}
			ingest, err := playsIngest(ctx, mainStack, fx.base, tok, o.analyticsPlays)
			if err != nil {
				return err
			}
			save(o.out, date, ingest, &results)
			seeded, err := playsSeed(ctx, mainStack, o.analyticsStored)
			if err != nil {
				return err
			}
			res = loadgen.Run(ctx, "analytics-query", cfg(o.analyticsQueryRate, mainStack.procs()), analyticsReports(fx.base, tok))
			res.Notes = "30-day reports (the default range) over " + seeded + ", cycling plays by track, album, artist and genre, listeners by country, device and age band, revenue and subscriptions; every fourth an SVG chart"
		default:
			return fmt.Errorf("unknown scenario %q", sc)
		}
		save(o.out, date, res, &results)
	}
	return summary(o, date, idle, results)
}

// profileApps starts a CPU profile of every app for the measured window and
// returns a function that, once the run is over, renders the top lines of
// the app with the most CPU per request.
func profileApps(ctx context.Context, st stackInfo, warmup, d time.Duration, prefix string) func(loadgen.Result) string {
	files := map[string]string{}
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, a := range st.Apps {
		wg.Add(1)
		go func(a appInfo) {
			defer wg.Done()
			select {
			case <-ctx.Done():
				return
			case <-time.After(warmup):
			}
			url := fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/profile?seconds=%d", a.PprofPort, int(d.Seconds()))
			resp, err := (&http.Client{Timeout: d + 30*time.Second}).Get(url)
			if err != nil {
				return
			}
			defer resp.Body.Close()
			path := prefix + "-" + a.AppID + ".pprof"
			f, err := os.Create(path)
			if err != nil {
				return
			}
			_, _ = io.Copy(f, resp.Body)
			f.Close()
			mu.Lock()
			files[a.AppID] = path
			mu.Unlock()
		}(a)
	}
	return func(r loadgen.Result) string {
		wg.Wait()
		top, best := "", -1.0
		for app := range files {
			if v := r.CPUPerReqMs[app]; v > best {
				top, best = app, v
			}
		}
		if top == "" {
			return ""
		}
		out, err := exec.Command("go", "tool", "pprof", "-top", "-nodecount=15", files[top]).CombinedOutput()
		if err != nil {
			return ""
		}
		lines := strings.Split(string(out), "\n")
		for i, l := range lines {
			if strings.HasPrefix(strings.TrimSpace(l), "flat") {
				lines = lines[max(0, i-1):]
				break
			}
		}
		return fmt.Sprintf("%s (%.3f ms CPU per request), go tool pprof -top %s\n%s", top, best, filepath.Base(files[top]), strings.Join(lines, "\n"))
	}
}

func save(dir, date string, r loadgen.Result, all *[]loadgen.Result) {
	*all = append(*all, r)
	b, _ := json.MarshalIndent(r, "", "  ")
	path := filepath.Join(dir, date+"-"+r.Scenario+".json")
	_ = os.WriteFile(path, append(b, '\n'), 0o644)
	if r.Requests > 0 {
		fmt.Printf("%-13s %6.0f req/s  p50 %7.2f ms  p99 %7.2f ms  max %7.1f ms  errors %v\n", r.Scenario, r.Achieved, r.P50, r.P99, r.Max, r.Errors)
	} else {
		fmt.Printf("%-13s %s\n", r.Scenario, r.Notes)
	}
}

func summary(o options, date string, idle loadgen.Result, results []loadgen.Result) error {
	// every scenario is set against the two-sidecar floor, but the
	// checkout against the workflow floor (the bare Dapr workflow)
	var floor, wfFloor *loadgen.Result
	for i := range results {
		switch results[i].Scenario {
		case "floor":
			floor = &results[i]
		case "workflow-floor":
			wfFloor = &results[i]
		}
	}
	var b strings.Builder
	host, _ := os.Hostname()
	fmt.Fprintf(&b, "# Benchmark %s\n\nMachine: %s, %d cores, %s. Each scenario: %s warm-up, %s measured, %d connections, open loop (latency from the intended send time).\n\n",
		date, host, runtime.NumCPU(), runtime.Version(), o.warmup, o.duration, o.conns)
	stores := "SQLite (components/)"
	if o.overlay != "" {
		stores = o.overlay + " over components/"
	}
	fmt.Fprintf(&b, "State stores: %s; catalogue: %s. Load average (1, 5, 15 min) before the stacks started: %s; at the end: %s.\n\n", stores, o.catalog, o.loadBefore, loadAvg())
	b.WriteString("| scenario | target req/s | achieved | p50 ms | p90 ms | p95 ms | p99 ms | p99.9 ms | max ms | errors | p50 / floor | p99 / floor |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range results {
		if strings.HasSuffix(r.Scenario, "-capacity") {
			continue
		}
		if r.Requests == 0 {
			fmt.Fprintf(&b, "| %s | | | | | | | | | | | %s |\n", r.Scenario, r.Notes)
			continue
		}
		base, mark := floor, ""
		switch r.Scenario {
		case "workflow-floor":
			base = nil
		case "checkout":
			base, mark = wfFloor, " (of the workflow floor)"
		}
		ratio := func(v float64, f func(*loadgen.Result) float64) string {
			if base == nil || f(base) == 0 {
				return ""
			}
			return fmt.Sprintf("%.2f×%s", v/f(base), mark)
		}
		fmt.Fprintf(&b, "| %s | %.0f | %.1f | %.2f | %.2f | %.2f | %.2f | %.2f | %.1f | %v | %s | %s |\n", r.Scenario, r.Rate, r.Achieved,
			r.P50, r.P90, r.P95, r.P99, r.P999, r.Max, r.Errors,
			ratio(r.P50, func(f *loadgen.Result) float64 { return f.P50 }), ratio(r.P99, func(f *loadgen.Result) float64 { return f.P99 }))
	}
	for _, r := range results {
		if (r.Scenario == "checkout" || r.Scenario == "workflow-floor" || r.Scenario == "notify" || r.Scenario == "fanout") && r.Notes != "" {
			fmt.Fprintf(&b, "\n%s: %s.\n", r.Scenario, r.Notes)
		}
	}
	if c := capacityLines(results); c != "" {
		fmt.Fprintf(&b, "\n## Capacity\n\nEach search steps the offered rate up (%s warm-up, %s measured per step) and stops at the first step whose p99 is over the limit or that has an error; capacity is the last step that held.\n\n%s", o.stepWarmup, o.stepDuration, c)
	}
	b.WriteString("\n## CPU per request (ms) by process\n\n")
	for _, r := range results {
		if r.Requests == 0 {
			continue
		}
		fmt.Fprintf(&b, "- %s: %s\n", r.Scenario, kv(r.CPUPerReqMs, "%.3f"))
	}
	b.WriteString("\n## Where the time goes\n\nA CPU profile of every app was taken during the measured part of `read` and `mix`; the app that spent the most CPU per request:\n")
	for _, r := range results {
		if strings.Contains(r.Notes, "pprof") {
			fmt.Fprintf(&b, "\n### %s\n\n```\n%s\n```\n", r.Scenario, r.Notes)
		}
	}
	b.WriteString("\n## Resident memory (MB)\n\n")
	fmt.Fprintf(&b, "- idle, before any scenario: %s\n", kv(idle.RSSMB, "%.0f"))
	for _, r := range results {
		if r.Requests > 0 {
			fmt.Fprintf(&b, "- after %s: %s\n", r.Scenario, kv(r.RSSMB, "%.0f"))
		}
	}
	path := filepath.Join(o.out, date+"-summary.md")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return err
	}
	fmt.Println("\nwrote", path)
	return nil
}

// loadAvg is the machine's load average: what else was running.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func kv(m map[string]float64, format string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sortStrings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + " " + fmt.Sprintf(format, m[k])
	}
	return strings.Join(parts, ", ")
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// startStack runs the launcher and waits for its stack.json; its output
// goes to <data>.launcher.log.
func startStack(ctx context.Context, launcher string, env []string, file, data string, offset int, extra ...string) (stackInfo, func(), error) {
	args := append([]string{"-f", file, "-data", data, "-port-offset", fmt.Sprint(offset)}, extra...)
	if err := os.MkdirAll(filepath.Dir(data), 0o755); err != nil {
		return stackInfo{}, nil, err
	}
	logf, err := os.Create(data + ".launcher.log")
	if err != nil {
		return stackInfo{}, nil, err
	}
	var info stackInfo
	st, err := launch.Start("", launcher, args, env, logf, data, 6*time.Minute, &info)
	if err != nil {
		b, _ := os.ReadFile(data + ".launcher.log")
		return stackInfo{}, nil, fmt.Errorf("%s: %w:\n%s", file, err, b)
	}
	return info, func() { _ = st.Stop() }, ctx.Err()
}

func send(ctx context.Context, c *http.Client, method, url, token string, body any, hdr map[string]string) int {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func get(ctx context.Context, c *http.Client, url, token, rng string) int {
	var hdr map[string]string
	if rng != "" {
		hdr = map[string]string{"Range": rng}
	}
	return send(ctx, c, http.MethodGet, url, token, nil, hdr)
}

func post(url string, body []byte, hdr map[string]string) loadgen.Request {
	return func(ctx context.Context, c *http.Client, _ int) int {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return 0
		}
		req.Header.Set("Content-Type", "application/octet-stream")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := c.Do(req)
		if err != nil {
			return 0
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 400 {
			firstError.Do(func() { fmt.Fprintf(os.Stderr, "first failure of %s: %d %.300s\n", url, resp.StatusCode, b) })
		}
		return resp.StatusCode
	}
}

var firstError sync.Once

// indexReport rebuilds search's index from the catalogue (an admin's
// reindex) and reports how long the rebuild took, as search logs it, the
// index's size on disk, and search's resident memory with it loaded.
func indexReport(ctx context.Context, st stackInfo, dataDir string) (string, error) {
	base := st.GatewayURL + "/api/v1"
	adminToken, err := adminLogin(ctx, base)
	if err != nil {
		return "", err
	}
	logPath := filepath.Join(dataDir, "logs", "search.log")
	rebuilt := func() []string {
		b, _ := os.ReadFile(logPath)
		var out []string
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, `"msg":"search index rebuilt"`) {
				out = append(out, l)
			}
		}
		return out
	}
	before := len(rebuilt())
	if err := call(ctx, http.MethodPost, base+"/admin/search/reindex", adminToken, nil, nil); err != nil {
		return "", err
	}
	deadline := time.Now().Add(15 * time.Minute)
	var line string
	for {
		if l := rebuilt(); len(l) > before {
			line = l[len(l)-1]
			break
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("search did not finish its rebuild in 15 minutes")
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	var entry struct {
		Documents int     `json:"documents"`
		Took      float64 `json:"took"` // slog's JSON writes a duration in nanoseconds
	}
	_ = json.Unmarshal([]byte(line), &entry)
	var size int64
	_ = filepath.Walk(filepath.Join(dataDir, "search", "index"), func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			size += fi.Size()
		}
		return nil
	})
	rss := loadgen.Run(ctx, "rss", loadgen.Config{Rate: 1, Duration: time.Second, Procs: map[string]int{"search": st.app("search").AppPID}},
		func(context.Context, *http.Client, int) int { return 200 }).RSSMB["search"]
	return fmt.Sprintf("rebuilt %d documents in %s (search's own measure, from the exports of albums and playlists); index on disk %.1f MB; search's resident memory with it loaded %.0f MB",
		entry.Documents, time.Duration(entry.Took).Round(time.Millisecond), float64(size)/(1<<20), rss), nil
}
