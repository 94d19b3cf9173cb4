package devstack

import (
	"github.com/harmonia-music/harmonia/internal/platform"

	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options configure one stack.
type Options struct {
	RunFile      string   // path of dapr.yaml
	DataDir      string   // state, logs, certificates; ".data" beside the run file by default
	BinDir       string   // daprd, placement, scheduler, sentry, mailpit; ".bin" beside the run file by default
	SecureConfig string   // folder of per-app Configurations; "config/secure" beside the run file by default
	PortOffset   int      // added to every port, so a test stack can run beside a developer's
	Apps         []string // a subset of apps (all when empty)
	InfraOnly    bool     // only Redis, Mailpit, placement, scheduler (for 'dapr run -f .')
	Seed         bool     // create the demo accounts through the gateway
	Catalog      string   // seed catalogue: none, demo or large
	Overlay      string   // a folder of resources that replace same-named files of the run file's resources
	Pprof        bool     // each app serves net/http/pprof on 127.0.0.1:<app port + 200>, its sidecar on <app port + 300>
	Restart      bool     // restart an app or sidecar process that dies (crash tests)
	Env          []string // the environment passed on to every process (os.Environ())
	Out          io.Writer
	ReadyTimeout time.Duration
}

// AppInfo is what the stack reports about one app.
type AppInfo struct {
	AppID           string `json:"appId"`
	AppPort         int    `json:"appPort"`
	DaprHTTPPort    int    `json:"daprHttpPort"`
	DaprGRPCPort    int    `json:"daprGrpcPort"`
	DaprMetricsPort int    `json:"daprMetricsPort"`
	AdminPort       int    `json:"adminPort"` // the app's /readyz and /metrics
	AppPID          int    `json:"appPid"`
	// PprofPort and SidecarProfilePort answer net/http/pprof (the app's and
	// daprd's) when the launcher runs with -pprof; 0 otherwise.
	PprofPort          int `json:"pprofPort,omitempty"`
	SidecarProfilePort int `json:"sidecarProfilePort,omitempty"`
	SidecarPID         int `json:"sidecarPid"`
	// DaprAPIToken lets local tools (benchmarks) call this sidecar's API;
	// stack.json is written readable by its owner only.
	DaprAPIToken string `json:"daprApiToken"`
}

// Info describes a running stack; it is written to <data>/run/stack.json once
// everything is ready, for tests and benchmarks to find the ports.
type Info struct {
	DataDir     string    `json:"dataDir"`
	PortOffset  int       `json:"portOffset"`
	GatewayURL  string    `json:"gatewayUrl,omitempty"`
	MailpitURL  string    `json:"mailpitUrl"`
	SMTPPort    int       `json:"smtpPort"`
	RedisPort   int       `json:"redisPort"`
	RedisPID    int       `json:"redisPid,omitempty"` // when the launcher started Redis itself
	Apps        []AppInfo `json:"apps"`
	Ports       Ports     `json:"ports"`
	LauncherPID int       `json:"launcherPid"`
}

// Stack is a running set of processes.
type Stack struct {
	opts   Options
	file   *RunFile
	ports  Ports
	info   Info
	procs  []*proc // in start order
	apps   []*proc // apps and sidecars, watched for unexpected exits
	isApp  map[*proc]string
	redis  *proc    // Redis, when the launcher started it (restarted with Restart)
	kekEnv []string // auth's key-encryption key, for the sidecars (loadKEK)
}

// New reads the run file and prepares the stack.
func New(opts Options) (*Stack, error) {
	f, err := LoadRunFile(opts.RunFile)
	if err != nil {
		return nil, err
	}
	if err := f.Select(opts.Apps); err != nil {
		return nil, err
	}
	def := func(p *string, rel string) {
		if *p == "" {
			*p = f.Path(rel)
		}
		if abs, err := filepath.Abs(*p); err == nil {
			*p = abs
		}
	}
	def(&opts.DataDir, ".data")
	if opts.BinDir == "" {
		opts.BinDir = filepath.Join(moduleRoot(f.Dir()), ".bin")
	}
	def(&opts.SecureConfig, "config/secure")
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = 3 * time.Minute
	}
	if opts.PortOffset < 0 || opts.PortOffset > 15000 {
		return nil, fmt.Errorf("port offset %d is out of range (0 to 15000)", opts.PortOffset)
	}
	s := &Stack{opts: opts, file: f, ports: BasePorts.Shift(opts.PortOffset)}
	s.info = Info{DataDir: opts.DataDir, PortOffset: opts.PortOffset, Ports: s.ports, SMTPPort: s.ports.SMTP,
		RedisPort: s.ports.Redis, MailpitURL: "http://127.0.0.1:" + strconv.Itoa(s.ports.MailUI), LauncherPID: os.Getpid()}
	return s, nil
}

// moduleRoot is the nearest folder at or above dir with a go.mod (the
// repository, where .bin lives), or dir itself.
func moduleRoot(dir string) string {
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return dir
		}
	}
}

func (s *Stack) dir(parts ...string) string {
	return filepath.Join(append([]string{s.opts.DataDir}, parts...)...)
}

func (s *Stack) logf(format string, args ...any) {
	fmt.Fprintf(s.opts.Out, format+"\n", args...)
}

func (s *Stack) bin(name string) (string, error) {
	p := filepath.Join(s.opts.BinDir, name)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%s is missing: run 'make setup' first", p)
	}
	return p, nil
}

func randomToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// prepareDirs creates the data directory and its folders readable by their
// owner only (0700): they hold state, keys and tokens.
func (s *Stack) prepareDirs() error {
	for _, d := range []string{"", "logs", "state", "run/resources", "run/config", "sentry", "scheduler", "redis", "bin", "secrets"} {
		if err := os.MkdirAll(s.dir(d), 0o700); err != nil {
			return err
		}
		if err := os.Chmod(s.dir(d), 0o700); err != nil { // one made before this rule
			return err
		}
	}
	return s.loadKEK()
}

// loadKEK gives auth a key-encryption key for the signing keys it stores:
// the one in the environment, or one made for this data directory on its
// first start and kept in secrets/ (0600). auth reads it from the secret
// store (secretstores.local.env: daprd's HARMONIA_ variables).
func (s *Stack) loadKEK() error {
	const name = "HARMONIA_AUTH_KEY_ENCRYPTION_KEY"
	for _, kv := range s.opts.Env {
		if strings.HasPrefix(kv, name+"=") {
			return nil
		}
	}
	path := s.dir("secrets", "auth-key-encryption-key")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		k := make([]byte, 32)
		if _, err := rand.Read(k); err != nil {
			return err
		}
		b = []byte(base64.StdEncoding.EncodeToString(k))
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	s.kekEnv = []string{name + "=" + strings.TrimSpace(string(b))}
	return nil
}

// Start brings everything up and waits until it is ready. On error, whatever
// was started is stopped again.
func (s *Stack) Start(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()
	if err := s.prepareDirs(); err != nil {
		return err
	}
	_ = os.Remove(s.dir("run", "stack.json"))
	if err := s.render(); err != nil {
		return err
	}
	var buildErr chan error
	if !s.opts.InfraOnly {
		buildErr = make(chan error, 1)
		go func() { buildErr <- s.buildApps(ctx) }()
	}
	if err := s.startInfra(ctx); err != nil {
		return err
	}
	if s.opts.InfraOnly {
		return s.writeInfo()
	}
	if err := <-buildErr; err != nil {
		return err
	}
	if err := s.startApps(ctx); err != nil {
		return err
	}
	if s.opts.Seed {
		if err := s.seed(ctx); err != nil {
			return fmt.Errorf("seed: %w", err)
		}
	}
	if err := s.seedCatalogue(ctx, s.opts.Catalog); err != nil {
		return fmt.Errorf("seed catalogue: %w", err)
	}
	return s.writeInfo()
}

func (s *Stack) writeInfo() error {
	b, err := json.MarshalIndent(s.info, "", "  ")
	if err != nil {
		return err
	}
	tmp := s.dir("run", "stack.json.tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, s.dir("run", "stack.json"))
}

// Info returns what the stack reports about itself.
func (s *Stack) Info() Info { return s.info }

// render writes this stack's copy of the resources and Configurations.
func (s *Stack) render() error {
	r := renderer{dataDir: s.opts.DataDir, offset: s.opts.PortOffset,
		infra: map[int]bool{BasePorts.Redis: true, BasePorts.SMTP: true}}
	res := s.file.Path(s.file.Common.ResourcesPath)
	entries, err := os.ReadDir(res)
	if err != nil {
		return fmt.Errorf("resources: %w", err)
	}
	for _, e := range entries {
		if e.IsDir() || !(strings.HasSuffix(e.Name(), ".yaml") || strings.HasSuffix(e.Name(), ".yml")) {
			continue
		}
		if err := r.file(filepath.Join(res, e.Name()), s.dir("run", "resources", e.Name())); err != nil {
			return err
		}
	}
	if s.opts.Overlay != "" {
		over, err := os.ReadDir(s.opts.Overlay)
		if err != nil {
			return fmt.Errorf("resources overlay: %w", err)
		}
		for _, e := range over {
			if !e.IsDir() && strings.HasSuffix(e.Name(), ".yaml") {
				if err := r.file(filepath.Join(s.opts.Overlay, e.Name()), s.dir("run", "resources", e.Name())); err != nil {
					return err
				}
			}
		}
	}
	for _, a := range s.file.Apps {
		src := filepath.Join(s.opts.SecureConfig, a.AppID+".yaml")
		if err := r.file(src, s.dir("run", "config", a.AppID+".yaml")); err != nil {
			return fmt.Errorf("app %s needs its Configuration: %w", a.AppID, err)
		}
	}
	return r.file(filepath.Join(filepath.Dir(s.opts.SecureConfig), "sentry.yaml"), s.dir("run", "config", "sentry.yaml"))
}

// buildApps compiles every app whose command is 'go run <pkg>' once, so the
// stack runs binaries (fast restarts, clean signals) instead of 'go run'.
func (s *Stack) buildApps(ctx context.Context) error {
	var pkgs []string
	for _, a := range s.file.Apps {
		if isGoRun(a.Command) {
			pkgs = append(pkgs, "./"+filepath.ToSlash(mustRel(s.file.Dir(), filepath.Join(s.file.Path(a.AppDirPath), a.Command[2]))))
		}
	}
	if len(pkgs) == 0 {
		return nil
	}
	start := time.Now()
	args := append([]string{"build", "-o", s.dir("bin") + "/"}, pkgs...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = s.file.Dir()
	cmd.Env = s.opts.Env
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("building apps: %w\n%s", err, out)
	}
	s.logf("built %d apps in %s", len(pkgs), time.Since(start).Round(time.Millisecond))
	return nil
}

func isGoRun(c []string) bool { return len(c) == 3 && c[0] == "go" && c[1] == "run" }

func mustRel(base, p string) string {
	r, err := filepath.Rel(base, p)
	if err != nil {
		return p
	}
	return r
}

func (s *Stack) add(p *proc) *proc {
	s.procs = append(s.procs, p)
	return p
}

// startInfra starts Redis and Mailpit unless they already answer, then
// Sentry, placement and scheduler.
func (s *Stack) startInfra(ctx context.Context) error {
	p := s.ports
	env := s.opts.Env
	logs := s.dir("logs")
	if portOpen(p.Redis) {
		s.logf("redis: using the server already on port %d", p.Redis)
	} else {
		redis, err := exec.LookPath("redis-server")
		if err != nil {
			return errors.New("redis-server is not installed: run 'make setup'")
		}
		pr, err := start("redis", logs, s.dir("redis"), env, redis, "--port", strconv.Itoa(p.Redis), "--bind", "127.0.0.1",
			// an append-only file under the data directory, written every
			// second: events not yet delivered survive a Redis restart
			"--save", "", "--appendonly", "yes", "--appendfsync", "everysec", "--daemonize", "no", "--dir", s.dir("redis"))
		if err != nil {
			return err
		}
		s.add(pr)
		s.redis, s.info.RedisPID = pr, pr.cmd.Process.Pid
		if err := waitFor(ctx, "redis", 20*time.Second, []*proc{pr}, func(context.Context) bool { return portOpen(p.Redis) }); err != nil {
			return err
		}
	}
	if portOpen(p.SMTP) {
		s.logf("mailpit: using the server already on port %d", p.SMTP)
	} else {
		mp, err := s.bin("mailpit")
		if err != nil {
			return err
		}
		// --max: Mailpit keeps only its newest 500 messages by default, and
		// the fault suite counts every email an account got
		pr, err := start("mailpit", logs, s.opts.DataDir, env, mp, "--smtp", "127.0.0.1:"+strconv.Itoa(p.SMTP),
			"--listen", "127.0.0.1:"+strconv.Itoa(p.MailUI), "--database", s.dir("mailpit.db"), "--max", "100000")
		if err != nil {
			return err
		}
		s.add(pr)
		if err := waitFor(ctx, "mailpit", 20*time.Second, []*proc{pr}, func(context.Context) bool { return portOpen(p.SMTP) && portOpen(p.MailUI) }); err != nil {
			return err
		}
	}
	// The Dapr CLI starts its sidecars without mTLS, so for '-infra' the
	// control plane runs without TLS and without Sentry.
	var tls []string
	if !s.opts.InfraOnly {
		if err := s.startSentry(ctx); err != nil {
			return err
		}
		tls = []string{"--tls-enabled", "--sentry-address", "127.0.0.1:" + strconv.Itoa(p.Sentry),
			"--trust-anchors-file", s.dir("sentry", "ca.crt"), "--trust-domain", "cluster.local"}
	}
	placement, err := s.bin("placement")
	if err != nil {
		return err
	}
	pp, err := start("placement", logs, s.opts.DataDir, env, append([]string{placement, "--port", strconv.Itoa(p.Placement),
		"--listen-address", "127.0.0.1",
		"--healthz-port", strconv.Itoa(p.PlacementHealth), "--healthz-listen-address", "127.0.0.1",
		"--metrics-port", strconv.Itoa(p.PlacementMetrics), "--metrics-listen-address", "127.0.0.1",
		"--initial-cluster", "dapr-placement-0=127.0.0.1:" + strconv.Itoa(p.PlacementRaft)}, tls...)...)
	if err != nil {
		return err
	}
	s.add(pp)
	scheduler, err := s.bin("scheduler")
	if err != nil {
		return err
	}
	sp, err := start("scheduler", logs, s.opts.DataDir, env, append([]string{scheduler, "--port", strconv.Itoa(p.Scheduler),
		"--listen-address", "127.0.0.1",
		"--healthz-port", strconv.Itoa(p.SchedulerHealth), "--healthz-listen-address", "127.0.0.1",
		"--metrics-port", strconv.Itoa(p.SchedulerMetrics), "--metrics-listen-address", "127.0.0.1",
		"--etcd-data-dir", s.dir("scheduler"), "--etcd-client-port", strconv.Itoa(p.EtcdClient),
		"--etcd-initial-cluster", "dapr-scheduler-server-0=http://localhost:" + strconv.Itoa(p.EtcdPeer),
		"--override-broadcast-host-port", "localhost:" + strconv.Itoa(p.Scheduler)}, tls...)...)
	if err != nil {
		return err
	}
	s.add(sp)
	for _, c := range []struct {
		name string
		pr   *proc
		port int
	}{{"placement", pp, p.PlacementHealth}, {"scheduler", sp, p.SchedulerHealth}} {
		url := "http://127.0.0.1:" + strconv.Itoa(c.port) + "/healthz"
		if err := waitFor(ctx, c.name, 60*time.Second, []*proc{c.pr}, func(cx context.Context) bool { return httpOK(cx, url) }); err != nil {
			return err
		}
	}
	return nil
}

// startSentry starts the certificate authority and waits for its CA file.
func (s *Stack) startSentry(ctx context.Context) error {
	p := s.ports
	sentry, err := s.bin("sentry")
	if err != nil {
		return err
	}
	ps, err := start("sentry", s.dir("logs"), s.opts.DataDir, s.opts.Env, sentry, "--issuer-credentials", s.dir("sentry"),
		"--trust-domain", "cluster.local", "--port", strconv.Itoa(p.Sentry), "--listen-address", "127.0.0.1",
		"--healthz-port", strconv.Itoa(p.SentryHealth), "--healthz-listen-address", "127.0.0.1",
		"--metrics-port", strconv.Itoa(p.SentryMetrics), "--metrics-listen-address", "127.0.0.1",
		"--config", s.dir("run", "config", "sentry.yaml"), "--mode", "standalone")
	if err != nil {
		return err
	}
	s.add(ps)
	if err := waitFor(ctx, "sentry", 30*time.Second, []*proc{ps}, func(c context.Context) bool {
		_, err := os.Stat(s.dir("sentry", "ca.crt"))
		return err == nil && httpOK(c, "http://127.0.0.1:"+strconv.Itoa(p.SentryHealth)+"/healthz")
	}); err != nil {
		return err
	}
	return nil
}

// startApps starts every sidecar and app and waits until all are ready.
func (s *Stack) startApps(ctx context.Context) error {
	daprd, err := s.bin("daprd")
	if err != nil {
		return err
	}
	anchors, err := os.ReadFile(s.dir("sentry", "ca.crt"))
	if err != nil {
		return err
	}
	logs := s.dir("logs")
	type pair struct {
		app       RunApp
		sidecar   *proc
		proc      *proc
		daprToken string
	}
	var pairs []pair
	// Links in messages (an email's unsubscribe link) point at the gateway.
	publicURL := ""
	for _, base := range s.file.Apps {
		if base.AppID == "gateway" {
			publicURL = "http://127.0.0.1:" + strconv.Itoa(base.AppPort+s.opts.PortOffset)
		}
	}
	for _, base := range s.file.Apps {
		a := shiftApp(base, s.opts.PortOffset)
		appToken, daprToken := randomToken(), randomToken()
		level := firstNonEmpty(a.LogLevel, s.file.Common.LogLevel, "info")
		denv := append(append([]string{}, s.opts.Env...), s.kekEnv...)
		denv = append(denv,
			"DAPR_TRUST_ANCHORS="+string(anchors), "APP_API_TOKEN="+appToken, "DAPR_API_TOKEN="+daprToken,
			"DAPR_HOST_IP=127.0.0.1", "NAMESPACE=default")
		dargs := []string{daprd}
		if a.MaxBodySize != "" {
			dargs = append(dargs, "--max-body-size", a.MaxBodySize)
		}
		if s.opts.Pprof {
			dargs = append(dargs, "--enable-profiling", "--profile-port", strconv.Itoa(a.AppPort+platform.SidecarProfilePortOffset))
		}
		// daprd runs in the app's folder, as under the Dapr CLI, so relative
		// paths in resources mean the same under both
		sc, err := start(a.AppID+"-daprd", logs, s.file.Path(a.AppDirPath), denv, append(dargs,
			"--app-id", a.AppID, "--app-port", strconv.Itoa(a.AppPort), "--app-channel-address", "127.0.0.1",
			"--dapr-http-port", strconv.Itoa(a.DaprHTTPPort), "--dapr-grpc-port", strconv.Itoa(a.DaprGRPCPort),
			"--dapr-internal-grpc-port", strconv.Itoa(a.DaprInternalGRPCPort), "--dapr-listen-addresses", "127.0.0.1",
			"--dapr-internal-grpc-listen-address", "127.0.0.1",
			"--metrics-port", strconv.Itoa(a.MetricsPort), "--metrics-listen-address", "127.0.0.1",
			"--resources-path", s.dir("run", "resources"), "--config", s.dir("run", "config", a.AppID+".yaml"),
			"--placement-host-address", "127.0.0.1:"+strconv.Itoa(s.ports.Placement),
			"--scheduler-host-address", "127.0.0.1:"+strconv.Itoa(s.ports.Scheduler),
			"--enable-mtls", "--sentry-address", "127.0.0.1:"+strconv.Itoa(s.ports.Sentry),
			"--control-plane-trust-domain", "cluster.local", "--mode", "standalone",
			"--log-level", level, "--dapr-graceful-shutdown-seconds", "5")...)
		if err != nil {
			return err
		}
		s.add(sc)
		aenv := append([]string{}, s.opts.Env...)
		for k, v := range s.file.Common.Env {
			aenv = append(aenv, k+"="+v)
		}
		for k, v := range a.Env {
			aenv = append(aenv, k+"="+v)
		}
		// HARMONIA_LOCAL=1: a developer's stack, where the documented local
		// defaults (admin password, keys in the state store) may stand in
		aenv = append(aenv, "HARMONIA_LOCAL=1", "HARMONIA_DATA_DIR="+s.opts.DataDir, "APP_ID="+a.AppID, "APP_PORT="+strconv.Itoa(a.AppPort),
			"DAPR_HTTP_PORT="+strconv.Itoa(a.DaprHTTPPort), "DAPR_GRPC_PORT="+strconv.Itoa(a.DaprGRPCPort),
			"APP_API_TOKEN="+appToken, "DAPR_API_TOKEN="+daprToken, "LOG_LEVEL="+level)
		if publicURL != "" {
			aenv = append(aenv, "HARMONIA_PUBLIC_URL="+publicURL)
		}
		if s.opts.Pprof {
			aenv = append(aenv, "PPROF_PORT="+strconv.Itoa(a.AppPort+platform.PprofPortOffset))
		}
		argv := a.Command
		dir := s.file.Path(a.AppDirPath)
		if isGoRun(a.Command) {
			argv = []string{s.dir("bin", filepath.Base(filepath.Join(dir, a.Command[2])))}
		}
		ap, err := start(a.AppID, logs, dir, aenv, argv...)
		if err != nil {
			return err
		}
		s.add(ap)
		s.apps = append(s.apps, sc, ap)
		if s.isApp == nil {
			s.isApp = map[*proc]string{}
		}
		s.isApp[ap] = a.AppID
		s.isApp[sc] = a.AppID // a sidecar is restarted too (as Kubernetes restarts a pod's container)
		pairs = append(pairs, pair{app: a, sidecar: sc, proc: ap, daprToken: daprToken})
	}
	for _, pr := range pairs {
		a := pr.app
		ready := func(c context.Context) bool {
			return httpOK(c, "http://127.0.0.1:"+strconv.Itoa(a.DaprHTTPPort)+"/v1.0/healthz") &&
				httpOK(c, "http://127.0.0.1:"+strconv.Itoa(a.AppPort+platform.AdminPortOffset)+"/readyz")
		}
		if err := waitFor(ctx, a.AppID, s.opts.ReadyTimeout, s.apps, ready); err != nil {
			return err
		}
		info := AppInfo{AppID: a.AppID, AppPort: a.AppPort, DaprHTTPPort: a.DaprHTTPPort, DaprGRPCPort: a.DaprGRPCPort,
			DaprMetricsPort: a.MetricsPort, AdminPort: a.AppPort + platform.AdminPortOffset, AppPID: pr.proc.cmd.Process.Pid, SidecarPID: pr.sidecar.cmd.Process.Pid,
			DaprAPIToken: pr.daprToken}
		if s.opts.Pprof {
			info.PprofPort, info.SidecarProfilePort = a.AppPort+platform.PprofPortOffset, a.AppPort+platform.SidecarProfilePortOffset
		}
		s.info.Apps = append(s.info.Apps, info)
		if a.AppID == "gateway" {
			s.info.GatewayURL = "http://127.0.0.1:" + strconv.Itoa(a.AppPort)
		}
	}
	return nil
}

func firstNonEmpty(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

// Wait blocks until ctx ends (nil) or an app or sidecar exits (an error with
// the tail of its log). With Restart, an app that exits is started again.
func (s *Stack) Wait(ctx context.Context) error {
	if len(s.apps) == 0 {
		<-ctx.Done()
		return nil
	}
	died := make(chan *proc, 16)
	watch := func(p *proc) {
		go func() {
			select {
			case <-p.done:
				died <- p
			case <-ctx.Done():
			}
		}()
	}
	for _, p := range s.apps {
		watch(p)
	}
	if s.redis != nil && s.opts.Restart {
		// the broker restarts too (its append-only file keeps the events
		// not yet delivered), as a cluster's would
		s.isApp[s.redis] = "redis"
		watch(s.redis)
	}
	restarts := map[string]int{} // by process: a crash loop of one must not end the stack soon
	quick := map[string]int{}    // deaths in a row, each soon after its start: the back-off
	for {
		select {
		case <-ctx.Done():
			return nil
		case p := <-died:
			id, isApp := s.isApp[p]
			if !s.opts.Restart || !isApp || restarts[p.name] >= maxRestarts {
				return fmt.Errorf("%s exited (%v); last lines of %s:\n%s", p.name, p.err, p.logPath, p.tail(30))
			}
			restarts[p.name]++
			if time.Since(p.started) > stableAfter {
				quick[p.name] = 0
			}
			delay := min(firstRestartDelay<<quick[p.name], maxRestartDelay)
			quick[p.name]++
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(delay):
			}
			np, err := p.again()
			if err != nil {
				return err
			}
			s.logf("%s exited (%v); restarted", p.name, p.err)
			s.replace(p, np, id)
			watch(np)
		}
	}
}

// Restarts back off as Kubernetes' do for a crash loop: the first comes
// after firstRestartDelay, each quick death in a row doubles it up to
// maxRestartDelay, and a process that ran stableAfter starts over; at most
// maxRestarts in all for one process (app or sidecar).
const (
	firstRestartDelay = 300 * time.Millisecond
	maxRestartDelay   = 10 * time.Second
	stableAfter       = 30 * time.Second
	maxRestarts       = 100
)

// replace swaps a restarted process in and records its new pid.
func (s *Stack) replace(old, np *proc, appID string) {
	for i, p := range s.procs {
		if p == old {
			s.procs[i] = np
		}
	}
	for i, p := range s.apps {
		if p == old {
			s.apps[i] = np
		}
	}
	delete(s.isApp, old)
	s.isApp[np] = appID
	if old == s.redis {
		s.redis, s.info.RedisPID = np, np.cmd.Process.Pid
	}
	for i := range s.info.Apps {
		if s.info.Apps[i].AppID != appID {
			continue
		}
		if strings.HasSuffix(np.name, "-daprd") {
			s.info.Apps[i].SidecarPID = np.cmd.Process.Pid
		} else {
			s.info.Apps[i].AppPID = np.cmd.Process.Pid
		}
	}
	_ = s.writeInfo()
}

// Stop ends every process it started, apps first, and waits for them.
func (s *Stack) Stop() {
	watched := map[*proc]bool{}
	var wg sync.WaitGroup
	for _, p := range s.apps { // apps and sidecars together: they stop in seconds
		watched[p] = true
		wg.Add(1)
		go func(p *proc) { defer wg.Done(); p.stop(10 * time.Second) }(p)
	}
	wg.Wait()
	for i := len(s.procs) - 1; i >= 0; i-- {
		if !watched[s.procs[i]] {
			s.procs[i].stop(10 * time.Second)
		}
	}
	s.procs, s.apps = nil, nil
	_ = os.Remove(s.dir("run", "stack.json"))
}
