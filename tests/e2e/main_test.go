// Package e2e tests Harmonia as a client would: through the gateway only,
// against a real stack (daprd sidecars with mTLS, Redis, Mailpit, SQLite
// state) that TestMain starts with the project's launcher in a temporary data
// directory on a port offset, so it can run beside a developer's stack.
package e2e

import (
	"bufio"
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
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/harmonia-music/harmonia/tests/launch"
)

// stackInfo mirrors the launcher's stack.json.
type stackInfo struct {
	DataDir    string `json:"dataDir"`
	GatewayURL string `json:"gatewayUrl"`
	MailpitURL string `json:"mailpitUrl"`
	Apps       []struct {
		AppID           string `json:"appId"`
		AppPort         int    `json:"appPort"`
		DaprHTTPPort    int    `json:"daprHttpPort"`
		DaprMetricsPort int    `json:"daprMetricsPort"`
		AdminPort       int    `json:"adminPort"`
		DaprAPIToken    string `json:"daprApiToken"`
		AppPID          int    `json:"appPid"`
		SidecarPID      int    `json:"sidecarPid"`
	} `json:"apps"`
}

var (
	stack         stackInfo
	gw            string
	signingKey    ed25519.PrivateKey // provisioned through the secret store
	adminPassword = "e2e-admin-" + randomHex(6)
	httpc         = &http.Client{Timeout: 30 * time.Second}
)

// portOffset puts every port of the test stack above Linux's ephemeral range
// (32768–60999 by default): at 10000 the sidecars' gRPC ports (60100+) sat
// inside it, and an outgoing connection that happened to take one stopped a
// sidecar with "address already in use". The bench uses 11000 and 13000.
const portOffset = 12000

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	root, err := filepath.Abs("../..")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	tmp, err := os.MkdirTemp("", "harmonia-e2e-")
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
	signingKey = ed25519.NewKeyFromSeed(seed)
	dataDir := filepath.Join(tmp, ".data")
	args := []string{"-f", filepath.Join(root, "dapr.yaml"), "-data", dataDir, "-port-offset", fmt.Sprint(portOffset), "-catalog", "demo", "-restart"}
	if overlay := os.Getenv("HARMONIA_E2E_RESOURCES_OVERLAY"); overlay != "" { // e.g. components/postgres
		args = append(args, "-resources-overlay", filepath.Join(root, overlay))
	}
	env := append(os.Environ(),
		"HARMONIA_AUTH_SIGNING_KEY="+base64.StdEncoding.EncodeToString(seed),
		"HARMONIA_ADMIN_PASSWORD="+adminPassword,
		"AUTH_ACCOUNT_MAX_FAILURES=3",
		"GATEWAY_RATE_PER_SECOND=1000", "GATEWAY_RATE_BURST=2000",
		// the saga's test hooks and timings that fit a test run
		"SUBSCRIPTIONS_TEST_HOOKS=true", "SUBSCRIPTIONS_RENEWAL_RETRY_INTERVAL=1s", "SUBSCRIPTIONS_ACTIVITY_RETRY_TIMEOUT=8s",
		// users may be stopped between its two deletes, and finishes deletions soon after
		"USERS_TEST_HOOKS=true", "USERS_DELETION_RETRY=2s",
		"PAYMENTS_CHARGE_TIMEOUT=1s", "PAYMENTS_SIMULATOR_SLOW=4s", "ALBUMS_ENTITLEMENT_CACHE=1s",
		"LOGGING_CHECKPOINT_EVERY=2s", // signed checkpoints within a test run
		// a preview length other than the default, to see the header follow it
		"ALBUMS_PREVIEW_LENGTH=20s")
	var out launch.Buffer
	launched, err := launch.Start(root, launcher, args, env, &out, dataDir, 5*time.Minute, &stack)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%v:\n%s", err, out.String())
		return 1
	}
	stop := launched.Stop
	gw = stack.GatewayURL + "/api/v1"
	code := m.Run()
	stopRestarted()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "launcher output:\n%s\n", out.String())
		for _, a := range stack.Apps { // the apps of dapr.yaml, as the launcher started them
			if b, err := os.ReadFile(filepath.Join(dataDir, "logs", a.AppID+".log")); err == nil {
				fmt.Fprintf(os.Stderr, "--- %s.log (tail)\n%s\n", a.AppID, launch.Tail(string(b), 20))
			}
		}
	}
	if err := stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// Stopping the launcher must leave no process of the stack behind.
	var alive []string
	for _, a := range stack.Apps {
		for _, pid := range []int{a.AppPID, a.SidecarPID} {
			if pid > 0 && syscall.Kill(pid, 0) == nil && !isZombie(pid) {
				alive = append(alive, fmt.Sprintf("%s pid %d", a.AppID, pid))
			}
		}
	}
	if pids, _ := exec.Command("pgrep", "-f", dataDir).Output(); len(bytes.TrimSpace(pids)) > 0 {
		alive = append(alive, "processes naming the data dir: "+strings.Fields(string(pids))[0])
	}
	if len(alive) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: processes left running after the launcher stopped: %v\n", alive)
		return 1
	}
	fmt.Println("e2e: launcher stopped and left no process behind")
	return code
}

func isZombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	f := strings.Fields(string(b))
	return len(f) > 2 && f[2] == "Z"
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x", b)
}

// ---- HTTP helpers -------------------------------------------------------

type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Errors []struct {
		Field  string `json:"field"`
		Detail string `json:"detail"`
	} `json:"errors"`
}

// do sends a request; body may be nil, a string (sent raw) or a value (JSON).
func do(t *testing.T, method, url, token string, body any, headers ...string) response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, url, rd)
	if err != nil {
		t.Fatal(err)
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
	resp, err := httpc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

func expect(t *testing.T, r response, status int) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
	}
}

// expectProblem checks a problem+json answer with the status and, when
// field is not "", an entry in errors naming it.
func expectProblem(t *testing.T, r response, status int, field string) problem {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Fatalf("content type %q, want application/problem+json: %s", ct, r.Body)
	}
	var p problem
	r.json(t, &p)
	if p.Status != status || p.Type == "" || p.Title == "" {
		t.Fatalf("incomplete problem: %s", r.Body)
	}
	if field != "" {
		found := false
		for _, e := range p.Errors {
			if e.Field == field {
				found = true
			}
		}
		if !found {
			t.Fatalf("problem does not name field %q: %s", field, r.Body)
		}
	}
	return p
}

type tokens struct {
	UserID       string `json:"userId"`
	AccessToken  string `json:"accessToken"`
	RefreshToken string `json:"refreshToken"`
	TokenType    string `json:"tokenType"`
	ExpiresIn    int    `json:"expiresIn"`
}

type account struct {
	Email, Password string
	tokens
}

// newAccount registers a fresh listener.
func newAccount(t *testing.T) account {
	t.Helper()
	email := "e2e-" + randomHex(6) + "@example.com"
	pw := "pw-" + randomHex(8)
	r := do(t, "POST", gw+"/auth/register", "", map[string]any{"email": email, "password": pw,
		"displayName": "Test " + randomHex(2), "country": "PT", "birthYear": 1990})
	expect(t, r, 201)
	var tk tokens
	r.json(t, &tk)
	return account{Email: email, Password: pw, tokens: tk}
}

func login(t *testing.T, email, pw string) response {
	t.Helper()
	return do(t, "POST", gw+"/auth/login", "", map[string]string{"email": email, "password": pw})
}

// metric sums the values of a Prometheus series whose labels contain every want pair.
func metric(t *testing.T, url, name string, want map[string]string) float64 {
	t.Helper()
	resp, err := httpc.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") {
			continue
		}
		ok := true
		for k, v := range want {
			if !strings.Contains(line, k+`="`+v+`"`) {
				ok = false
			}
		}
		if !ok {
			continue
		}
		var v float64
		fields := strings.Fields(line)
		fmt.Sscan(fields[len(fields)-1], &v)
		sum += v
	}
	return sum
}

func appInfo(t *testing.T, id string) (appPort, metricsPort int) {
	t.Helper()
	for _, a := range stack.Apps {
		if a.AppID == id {
			return a.AppPort, a.DaprMetricsPort
		}
	}
	t.Fatalf("no app %s in the stack", id)
	return 0, 0
}
