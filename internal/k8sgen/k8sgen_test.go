package k8sgen_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/harmonia-music/harmonia/internal/k8sgen"
)

const root = "../.."

// The committed k8s/ files are what 'make k8s' writes from dapr.yaml,
// config/secure and components/: a change there without 'make k8s' fails.
func TestGeneratedIsFresh(t *testing.T) {
	files, err := k8sgen.Generate(root)
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range files {
		got, err := os.ReadFile(filepath.Join(root, p))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s is stale or missing: run 'make k8s'", p)
		}
	}
	stale, err := k8sgen.Stale(root, files)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range stale {
		t.Errorf("%s is generated but no longer written: run 'make k8s'", p)
	}
}

// An app of dapr.yaml without cluster needs stops the generator, naming it.
func TestAppWithoutSpecFails(t *testing.T) {
	dir := t.TempDir()
	run := "version: 1\napps:\n  - appID: jukebox\n    appDirPath: ./apps/jukebox\n    appPort: 8099\n    daprHTTPPort: 3599\n    daprGRPCPort: 50199\n    daprInternalGRPCPort: 50299\n    metricsPort: 9199\n    command: [\"go\", \"run\", \".\"]\n"
	if err := os.WriteFile(filepath.Join(dir, "dapr.yaml"), []byte(run), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := k8sgen.Generate(dir)
	if err == nil || !strings.Contains(err.Error(), `app "jukebox" of dapr.yaml has no entry in k8sgen.Apps`) {
		t.Fatalf("err %v", err)
	}
}

// The cluster's pub/sub carries the outbox's notices on the same broker,
// with the local topic scopes: each publisher's own <app>.outbox.
func TestOutboxNoticesReachTheCluster(t *testing.T) {
	files, err := k8sgen.Generate(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, broker := range []string{"redis", "kafka"} {
		b := string(files["k8s/components/pubsub-"+broker+"/pubsub-outbox.yaml"])
		if !strings.Contains(b, "albums=albums.outbox") || !strings.Contains(b, "name: pubsub-outbox") {
			t.Errorf("%s: no notice component with albums' notice topic:\n%s", broker, b)
		}
		if k := string(files["k8s/components/pubsub-"+broker+"/kustomization.yaml"]); !strings.Contains(k, "pubsub-outbox.yaml") {
			t.Errorf("%s: the notice component is not in the kustomization:\n%s", broker, k)
		}
	}
}
