package e2e

// The real Dapr CLI cannot be installed on these machines (it is not served
// by the module proxy), so this test starts sidecars exactly as the CLI 1.18
// does for a Multi-App Run ('dapr run -f .', read in dapr/cli v1.18.0:
// cmd/run.go, pkg/standalone/run.go, and seen on a hand-built CLI):
//
//   - apps one after another, each daprd with its working directory set to the
//     app's appDirPath and with the CLI's own environment (dapr.yaml's env
//     reaches the app only);
//   - daprd's flags from RunConfig in field order, defaults included;
//   - the app through 'sh -c exec "$@"' in the same folder, with the CLI's
//     environment, APP_ID, APP_PORT, DAPR_HTTP_PORT, DAPR_GRPC_PORT,
//     DAPR_METRICS_PORT, APP_PROTOCOL and dapr.yaml's env.
//
// The resources are the repository's files as they are, with only the
// infrastructure ports moved to this test's offset; data paths are not
// rewritten, so they resolve against the app folder as under the CLI. It
// runs sign-up and sign-in through the gateway.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/harmonia-music/harmonia/tests/launch"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/harmonia-music/harmonia/internal/devstack"
)

// cliPortOffset keeps this stack apart from the main test stack (12000) and
// above the ephemeral port range.
const cliPortOffset = 14000

func TestDaprCLIStyleStart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a stack of its own")
	}
	root, _ := filepath.Abs("../..")
	tmp := t.TempDir()
	rf, err := devstack.LoadRunFile(filepath.Join(root, "dapr.yaml"))
	if err != nil {
		t.Fatal(err)
	}

	// Infrastructure as 'make infra' starts it, on this test's ports.
	launcher := filepath.Join(tmp, "devstack")
	if out, err := command(root, "go", "build", "-o", launcher, "./cmd/devstack").CombinedOutput(); err != nil {
		t.Fatalf("build launcher: %v\n%s", err, out)
	}
	infra := command(root, launcher, "-f", filepath.Join(root, "dapr.yaml"), "-data", filepath.Join(tmp, ".data"),
		"-port-offset", strconv.Itoa(cliPortOffset), "-infra")
	var infraOut launch.Buffer
	infra.Stdout, infra.Stderr = &infraOut, &infraOut
	stopInfra := startProcess(t, infra)
	defer stopInfra()
	waitFile(t, filepath.Join(tmp, ".data", "run", "stack.json"), &infraOut)

	// The repository's resources with the infrastructure ports moved (the
	// launcher's offset); nothing else changes.
	shift := strings.NewReplacer(`"localhost:6379"`, fmt.Sprintf(`"localhost:%d"`, 6379+cliPortOffset),
		`value: "1025"`, fmt.Sprintf(`value: "%d"`, 1025+cliPortOffset))
	resources := filepath.Join(tmp, "components")
	copyYAML(t, filepath.Join(root, rf.Common.ResourcesPath), resources, shift)
	config := filepath.Join(tmp, rf.Common.ConfigFilePath)
	copyYAML(t, filepath.Join(root, filepath.Dir(rf.Common.ConfigFilePath)), filepath.Dir(config), shift)

	daprd := filepath.Join(root, ".bin", "daprd")
	var gatewayPort int
	for _, a := range rf.Apps {
		if a.AppID != "gateway" && a.AppID != "auth" && a.AppID != "users" {
			continue
		}
		appDir := filepath.Join(tmp, a.AppDirPath) // the app folder, in the same place relative to the resources
		if err := os.MkdirAll(appDir, 0o755); err != nil {
			t.Fatal(err)
		}
		bin := filepath.Join(tmp, "bin", a.AppID)
		if out, err := command(root, "go", "build", "-o", bin, "./"+filepath.ToSlash(filepath.Clean(a.AppDirPath))).CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", a.AppID, err, out)
		}
		port := func(p int) string { return strconv.Itoa(p + cliPortOffset) }
		body := a.MaxBodySize
		if body == "" {
			body = "4Mi"
		}
		// getArgsFromSchema: SharedRunConfig's fields, then RunConfig's
		args := []string{"--config", config, "--app-protocol", "http", "--app-max-concurrency", "-1",
			"--placement-host-address", "localhost:" + port(50005), "--resources-path", resources,
			"--max-body-size", body, "--read-buffer-size", "4Ki",
			"--scheduler-host-address", "localhost:" + port(50006),
			"--app-id", a.AppID, "--app-port", port(a.AppPort), "--dapr-http-port", port(a.DaprHTTPPort),
			"--dapr-grpc-port", port(a.DaprGRPCPort), "--profile-port", "-1", "--metrics-port", port(a.MetricsPort),
			"--dapr-internal-grpc-port", port(a.DaprInternalGRPCPort)}
		sidecar := command(appDir, daprd, args...)
		sidecar.Env = os.Environ() // the CLI's environment, nothing from dapr.yaml
		logTo(t, sidecar, filepath.Join(tmp, a.AppID+"-daprd.log"))
		defer startProcess(t, sidecar)()

		app := command(appDir, "sh", "-c", `exec "$@"`, "sh", bin)
		app.Env = append(os.Environ(), "APP_ID="+a.AppID, "APP_CHANNEL_ADDRESS=", "APP_PORT="+port(a.AppPort),
			"DAPR_HTTP_PORT="+port(a.DaprHTTPPort), "DAPR_GRPC_PORT="+port(a.DaprGRPCPort),
			"DAPR_METRICS_PORT="+port(a.MetricsPort))
		for k, v := range rf.Common.Env {
			app.Env = append(app.Env, k+"="+v)
		}
		for k, v := range a.Env {
			app.Env = append(app.Env, k+"="+v)
		}
		logTo(t, app, filepath.Join(tmp, a.AppID+".log"))
		defer startProcess(t, app)()
		if a.AppID == "gateway" {
			gatewayPort = a.AppPort + cliPortOffset
		}
	}
	base := fmt.Sprintf("http://127.0.0.1:%d/api/v1", gatewayPort)

	// sign-up goes gateway → auth → users; sign-in gateway → auth
	email, pw := "cli-"+randomHex(6)+"@example.com", "pw-"+randomHex(8)
	var r response
	for deadline := time.Now().Add(90 * time.Second); ; {
		r = tryDo(t, "POST", base+"/auth/register", map[string]any{"email": email, "password": pw,
			"displayName": "CLI listener", "country": "PT", "birthYear": 1990})
		if r.Status == 201 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sign-up through the CLI-style stack never worked: %d %s\n%s", r.Status, r.Body, logsOf(tmp))
		}
		time.Sleep(500 * time.Millisecond)
	}
	if r = tryDo(t, "POST", base+"/auth/login", map[string]string{"email": email, "password": pw}); r.Status != 200 {
		t.Fatalf("sign-in: %d %s", r.Status, r.Body)
	}
	// the state went where the launcher puts it, not under the app folders
	for _, f := range []string{".data/state/auth.db", ".data/state/users.db"} {
		if _, err := os.Stat(filepath.Join(tmp, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	if _, err := os.Stat(filepath.Join(tmp, "apps", "auth", ".data")); err == nil {
		t.Error("state was written under apps/auth/.data")
	}
}

func command(dir, name string, args ...string) *exec.Cmd {
	c := exec.Command(name, args...)
	c.Dir = dir
	c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM, Setpgid: true}
	return c
}

// startProcess starts c and returns what stops it (its process group).
func startProcess(t *testing.T, c *exec.Cmd) func() {
	t.Helper()
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = c.Wait(); close(done) }()
	return func() {
		_ = syscall.Kill(-c.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}
}

func logTo(t *testing.T, c *exec.Cmd, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	c.Stdout, c.Stderr = f, f
}

func logsOf(dir string) string {
	var sb strings.Builder
	files, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		fmt.Fprintf(&sb, "--- %s (tail)\n%s\n", filepath.Base(f), launch.Tail(string(b), 15))
	}
	return sb.String()
}

func waitFile(t *testing.T, path string, out *launch.Buffer) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); ; {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never appeared:\n%s", path, out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func copyYAML(t *testing.T, from, to string, r *strings.Replacer) {
	t.Helper()
	if err := os.MkdirAll(to, 0o755); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(from, "*.yaml"))
	if len(files) == 0 {
		t.Fatalf("no resources in %s", from)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, filepath.Base(f)), []byte(r.Replace(string(b))), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// tryDo is do that answers status 0 on a connection error (the stack is
// still starting) instead of failing the test.
func tryDo(t *testing.T, method, url string, body any) response {
	t.Helper()
	buf, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(method, url, bytes.NewReader(buf))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := httpc.Do(req)
	if err != nil {
		return response{Body: []byte(err.Error())}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}
