package devstack

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestRenderMovesDataPathsAndInfraPorts(t *testing.T) {
	in := `apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: pubsub
spec:
  type: pubsub.redis
  metadata:
    - name: redisHost
      value: "localhost:6379"
    - name: port
      value: "1025"
    - name: other
      value: "localhost:9999"
    - name: connectionString
      value: "../../.data/state/auth.db"
scopes: [auth]
`
	r := renderer{dataDir: "/tmp/stack/.data", offset: 1000, infra: map[int]bool{6379: true, 1025: true}}
	out, err := r.bytes([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	for _, want := range []string{"localhost:7379", `"2025"`, "localhost:9999", "/tmp/stack/.data/state/auth.db", "scopes: [auth]"} {
		if !strings.Contains(s, want) {
			t.Errorf("rendered file lacks %q:\n%s", want, s)
		}
	}
	for _, gone := range []string{"localhost:6379", `"1025"`, `../../.data`} {
		if strings.Contains(s, gone) {
			t.Errorf("rendered file still has %q", gone)
		}
	}
	// without an offset only paths move
	r.offset = 0
	out, _ = r.bytes([]byte(in))
	if !strings.Contains(string(out), "localhost:6379") {
		t.Errorf("offset 0 moved a port:\n%s", out)
	}
}

func TestRunFileChecksPorts(t *testing.T) {
	f := RunFile{Version: 1, Apps: []RunApp{
		{AppID: "a", AppDirPath: "x", Command: []string{"go", "run", "."}, AppPort: 1, DaprHTTPPort: 2, DaprGRPCPort: 3, DaprInternalGRPCPort: 4, MetricsPort: 5},
		{AppID: "b", AppDirPath: "y", Command: []string{"go", "run", "."}, AppPort: 1, DaprHTTPPort: 6, DaprGRPCPort: 7, DaprInternalGRPCPort: 8, MetricsPort: 9},
	}}
	if err := f.check(); err == nil || !strings.Contains(err.Error(), "port 1") {
		t.Fatalf("duplicate port not reported: %v", err)
	}
	f.Apps[1].AppPort = 10
	if err := f.check(); err != nil {
		t.Fatal(err)
	}
	if err := f.Select([]string{"b"}); err != nil || len(f.Apps) != 1 || f.Apps[0].AppID != "b" {
		t.Fatalf("select: %v %v", err, f.Apps)
	}
	if err := f.Select([]string{"zzz"}); err == nil {
		t.Fatal("unknown app accepted")
	}
}

// Every data path in the repository's resources is relative to the app's
// folder (daprd's working directory under the Dapr CLI and the launcher),
// so it names the same file under both. A path such as ".data/state/x.db"
// resolved under apps/<app>/ with the CLI: "unable to open database file".
func TestResourcePathsAreRelativeToTheAppFolder(t *testing.T) {
	files, _ := filepath.Glob("../../components/*.yaml")
	more, _ := filepath.Glob("../../components/*/*.yaml")
	cfg, _ := filepath.Glob("../../config/*/*.yaml")
	floor, _ := filepath.Glob("../../tests/load/*/*.yaml") // the benchmark's floor
	floorCfg, _ := filepath.Glob("../../tests/load/config/*/*.yaml")
	files = append(append(append(append(files, more...), cfg...), floor...), floorCfg...)
	if len(files) < 10 {
		t.Fatalf("found only %d resource files", len(files))
	}
	dataValue := regexp.MustCompile(`(?m)^\s*(?:-\s*)?(?:value|connectionString|rootPath):\s*"?([^"\s]*\.data/[^"\s]*)`)
	seen := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range dataValue.FindAllStringSubmatch(string(b), -1) {
			seen++
			if !strings.HasPrefix(m[1], DataPrefix) {
				t.Errorf("%s: %q must start with %q (relative to apps/<app>/, daprd's working directory)", f, m[1], DataPrefix)
			}
		}
	}
	if seen == 0 {
		t.Fatal("no data paths found: the pattern is stale")
	}
}

// Every SQLite state store overwrites what it deletes (secure_delete), so a
// deleted account's rows do not linger in the file's free pages.
func TestSQLiteStoresOverwriteDeletedRows(t *testing.T) {
	files, _ := filepath.Glob("../../components/*.yaml")
	stores := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range strings.Split(string(b), "\n---") {
			if !strings.Contains(doc, "type: state.sqlite") {
				continue
			}
			stores++
			m := regexp.MustCompile(`connectionString\s*\n\s*value:\s*"([^"]*)"`).FindStringSubmatch(doc)
			if m == nil || !strings.Contains(m[1], "_pragma=secure_delete(1)") {
				t.Errorf("%s: a SQLite store without _pragma=secure_delete(1): %v", f, m)
			}
		}
	}
	if stores < 7 {
		t.Fatalf("found only %d SQLite stores: the pattern is stale", stores)
	}
}
