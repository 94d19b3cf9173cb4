package platform

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Env reads typed configuration from an environment lookup function and
// collects every problem, so a service reports all bad settings at once.
type Env struct {
	getenv func(string) string
	errs   []error
}

// NewEnv wraps getenv (os.Getenv in main, a map in tests).
func NewEnv(getenv func(string) string) *Env { return &Env{getenv: getenv} }

// String returns the variable or def when unset.
func (e *Env) String(name, def string) string {
	if v := strings.TrimSpace(e.getenv(name)); v != "" {
		return v
	}
	return def
}

// Required returns the variable or records an error when unset.
func (e *Env) Required(name string) string {
	v := strings.TrimSpace(e.getenv(name))
	if v == "" {
		e.errs = append(e.errs, fmt.Errorf("%s is required", name))
	}
	return v
}

// Int returns the variable parsed as an integer.
func (e *Env) Int(name string, def int) int {
	v := e.getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		e.errs = append(e.errs, fmt.Errorf("%s: %q is not an integer", name, v))
		return def
	}
	return n
}

// Float returns the variable parsed as a float.
func (e *Env) Float(name string, def float64) float64 {
	v := e.getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil {
		e.errs = append(e.errs, fmt.Errorf("%s: %q is not a number", name, v))
		return def
	}
	return n
}

// Duration returns the variable parsed with time.ParseDuration.
func (e *Env) Duration(name string, def time.Duration) time.Duration {
	v := e.getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil {
		e.errs = append(e.errs, fmt.Errorf("%s: %q is not a duration", name, v))
		return def
	}
	return d
}

// Bool returns the variable parsed with strconv.ParseBool.
func (e *Env) Bool(name string, def bool) bool {
	v := e.getenv(name)
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(strings.TrimSpace(v))
	if err != nil {
		e.errs = append(e.errs, fmt.Errorf("%s: %q is not a boolean", name, v))
		return def
	}
	return b
}

// List returns a comma-separated list.
func (e *Env) List(name string, def []string) []string {
	v := strings.TrimSpace(e.getenv(name))
	if v == "" {
		return def
	}
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Prefixes reads a comma-separated list of CIDRs (an address alone means
// just that address); a malformed entry is a startup error naming it.
func (e *Env) Prefixes(name string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range e.List(name, nil) {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				e.errs = append(e.errs, fmt.Errorf("%s: %q is not a CIDR such as 10.0.0.0/8 or an address", name, s))
				continue
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		out = append(out, p.Masked())
	}
	return out
}

// Err returns every problem found so far.
func (e *Env) Err() error { return errors.Join(e.errs...) }

// Common is the configuration every Harmonia app reads: what the Dapr CLI and
// the launcher put in an app's environment.
type Common struct {
	AppID        string
	BindHost     string // 127.0.0.1 beside a local sidecar; 0.0.0.0 in a pod so probes reach it
	Port         int
	DaprHTTPPort int
	DaprGRPCPort int
	AppAPIToken  string // the sidecar presents it to us (dapr-api-token)
	DaprAPIToken string // we present it to the sidecar
	LogLevel     string
	ShutdownWait time.Duration
	PprofPort    int // when set, net/http/pprof on 127.0.0.1:PprofPort (benchmarks)
	// AdminAddr is where /readyz and /metrics are served, apart from the
	// app's port: 127.0.0.1:<app port + 100> by default, so neither reaches
	// the public side; in a pod, an address the kubelet and Prometheus reach.
	AdminAddr string
	// Local is HARMONIA_LOCAL=1: a developer's machine (the launcher and
	// dapr.yaml set it). Without it, settings fail closed: an app refuses to
	// start without an app API token, auth without its secrets.
	Local bool
}

// AdminPortOffset places an app's probe and metrics listener: app port + 100.
const AdminPortOffset = 100

// PprofPortOffset places an app's net/http/pprof listener when the launcher
// runs with -pprof (app port + 200), and SidecarProfilePortOffset its
// sidecar's (daprd --profile-port, app port + 300): clear of every other
// port of the stack (app + 1000 was once used, and analytics' 9090 was the
// gateway sidecar's metrics port).
const (
	PprofPortOffset          = 200
	SidecarProfilePortOffset = 300
)

// LoadCommon reads the common settings; service is the default app id.
// Outside the local stack an empty APP_API_TOKEN is an error: without it
// the app could not tell its sidecar from anyone else on the network.
func LoadCommon(e *Env, service string) Common {
	c := Common{
		AppID:        e.String("APP_ID", service),
		BindHost:     e.String("APP_BIND", "127.0.0.1"),
		Port:         e.Int("APP_PORT", 8080),
		DaprHTTPPort: e.Int("DAPR_HTTP_PORT", 3500),
		DaprGRPCPort: e.Int("DAPR_GRPC_PORT", 50001),
		AppAPIToken:  e.String("APP_API_TOKEN", ""),
		DaprAPIToken: e.String("DAPR_API_TOKEN", ""),
		LogLevel:     e.String("LOG_LEVEL", "info"),
		ShutdownWait: e.Duration("SHUTDOWN_TIMEOUT", 10*time.Second),
		PprofPort:    e.Int("PPROF_PORT", 0),
		Local:        e.String("HARMONIA_LOCAL", "") == "1",
	}
	c.AdminAddr = e.String("ADMIN_ADDR", "127.0.0.1:"+strconv.Itoa(c.Port+AdminPortOffset))
	if !c.Local && c.AppAPIToken == "" {
		e.errs = append(e.errs, errors.New("APP_API_TOKEN is required outside the local stack: set the sidecar's app token "+
			"(Dapr's app-token-secret), or HARMONIA_LOCAL=1 on a developer's machine"))
	}
	return c
}
