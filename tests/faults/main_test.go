// Package faults breaks a running Harmonia on purpose, under load, and checks
// afterwards that nothing was lost and nothing doubled. It starts its own
// stack (the launcher with -restart, on its own port offset and data
// directory, with its own Redis and Mailpit), drives a steady mix with the
// project's load generator, injects one fault at a time, waits for the
// stack to recover, drives 30 s more load that must see no 5xx, and checks
// the invariants. Each fault's outcome is a row of .data/faults/report.md.
//
// make test-faults runs a representative subset; FAULTS=all runs the whole
// matrix (every app and every sidecar killed in turn);
// HARMONIA_FAULTS_RESOURCES_OVERLAY=components/postgres runs it on the
// PostgreSQL set (make test-faults-postgres), which adds the fault of the
// database's connections being terminated.
package faults

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/harmonia-music/harmonia/internal/devstack"
	"github.com/harmonia-music/harmonia/tests/launch"
)

// portOffset keeps this stack apart from e2e's (12000) and the bench's
// (11000, 13000), and every port below 65536.
const portOffset = 14000

var (
	root          string
	dataDir       string
	overlay       = os.Getenv("HARMONIA_FAULTS_RESOURCES_OVERLAY")
	adminPassword = "faults-admin-" + randomHex(6)
	gw            string // the gateway's /api/v1
	httpc         = &http.Client{Timeout: 30 * time.Second}
)

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	var err error
	if root, err = filepath.Abs("../.."); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	tmp, err := os.MkdirTemp("", "harmonia-faults-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	launcher, err := launch.Build(root, tmp)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	seed := make([]byte, ed25519.SeedSize)
	_, _ = rand.Read(seed)
	dataDir = filepath.Join(tmp, ".data")
	args := []string{"-f", filepath.Join(root, "dapr.yaml"), "-data", dataDir, "-port-offset", fmt.Sprint(portOffset), "-catalog", "demo", "-restart", "-pprof"}
	if overlay != "" {
		args = append(args, "-resources-overlay", filepath.Join(root, overlay))
	}
	env := append(os.Environ(),
		"HARMONIA_AUTH_SIGNING_KEY="+base64.StdEncoding.EncodeToString(seed),
		"HARMONIA_ADMIN_PASSWORD="+adminPassword,
		"AUTH_ACCESS_TTL=3h", // tokens outlive the whole matrix
		"GATEWAY_RATE_PER_SECOND=1000", "GATEWAY_RATE_BURST=2000",
		"LOGGING_CHECKPOINT_EVERY=5s")
	var out launch.Buffer
	var info devstack.Info
	st, err := launch.Start(root, launcher, args, env, &out, dataDir, 5*time.Minute, &info)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%v:\n%s", err, out.String())
		return 1
	}
	gw = info.GatewayURL + "/api/v1"
	code := m.Run()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "launcher output (tail):\n%s\n", launch.Tail(out.String(), 60))
	}
	if err := st.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	return code
}

// readStack reads the launcher's stack.json (rewritten on every restart).
func readStack() (devstack.Info, error) {
	var info devstack.Info
	b, err := os.ReadFile(filepath.Join(dataDir, "run", "stack.json"))
	if err != nil {
		return info, err
	}
	return info, json.Unmarshal(b, &info)
}

func appOf(t *testing.T, id string) devstack.AppInfo {
	t.Helper()
	info, err := readStack()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range info.Apps {
		if a.AppID == id {
			return a
		}
	}
	t.Fatalf("no app %s", id)
	return devstack.AppInfo{}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x", b)
}

// ---- HTTP ---------------------------------------------------------------

type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// call sends one request; status 0 is a transport error.
func call(ctx context.Context, c *http.Client, method, url, token string, body any, headers ...string) response {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return response{}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		return response{}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{Status: 0, Header: resp.Header}
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// must sends a request outside the fault windows and wants status.
func must(t *testing.T, method, url, token string, body any, status int, out any, headers ...string) response {
	t.Helper()
	var r response
	for attempt := 0; attempt < 20; attempt++ {
		r = call(context.Background(), httpc, method, url, token, body, headers...)
		if r.Status != 0 && r.Status != 503 {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if r.Status != status {
		t.Fatalf("%s %s: %d, want %d: %s", method, url, r.Status, status, r.Body)
	}
	if out != nil {
		if err := json.Unmarshal(r.Body, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, url, r.Body, err)
		}
	}
	return r
}
