// Package contract runs the platform's storage contract against real Dapr
// sidecars: the repository (Update, Upsert, Transact with ETags, insert-only
// writes, bounded retries) through the Dapr adapter, on SQLite and, where a
// PostgreSQL server answers on 127.0.0.1:5432 (CI has one), on PostgreSQL:
// the same test, both stores.
package contract

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/harmonia-music/harmonia/internal/platform"
	"github.com/harmonia-music/harmonia/internal/platform/dapr"
	"github.com/harmonia-music/harmonia/internal/platform/state"
)

type doc struct {
	N    int      `json:"n"`
	Tags []string `json:"tags"`
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// sidecar starts daprd with one state store named "store" and returns the
// platform's adapter for it.
func sidecar(t *testing.T, component string) state.KV {
	t.Helper()
	_, kv := sidecarFor(t, component, 0)
	return kv
}

// sidecarFor starts daprd with the given resources (one file) and, when
// appPort is set, the app listening there; it returns the sidecar and the
// adapter of the state store named "store".
func sidecarFor(t *testing.T, component string, appPort int) (*dapr.Sidecar, *dapr.StateStore) {
	t.Helper()
	root, _ := filepath.Abs("../..")
	daprd := filepath.Join(root, ".bin", "daprd")
	if _, err := os.Stat(daprd); err != nil {
		t.Fatalf("%s is missing: run make setup", daprd)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "store.yaml"), []byte(component), 0o600); err != nil {
		t.Fatal(err)
	}
	httpPort, grpcPort := freePort(t), freePort(t)
	args := []string{"--app-id", "contract", "--resources-path", dir,
		"--dapr-http-port", strconv.Itoa(httpPort), "--dapr-grpc-port", strconv.Itoa(grpcPort),
		"--dapr-internal-grpc-port", strconv.Itoa(freePort(t)), "--metrics-port", strconv.Itoa(freePort(t)),
		"--dapr-listen-addresses", "127.0.0.1", "--placement-host-address", "", "--scheduler-host-address", "",
		"--log-level", "warn"}
	if appPort != 0 {
		args = append(args, "--app-port", strconv.Itoa(appPort))
	}
	cmd := exec.Command(daprd, args...)
	cmd.Dir = dir
	log, _ := os.Create(filepath.Join(dir, "daprd.log"))
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_, _ = cmd.Process.Wait()
		log.Close()
	})
	sc := dapr.NewSidecar(platform.Common{AppID: "contract", DaprHTTPPort: httpPort, DaprGRPCPort: grpcPort})
	t.Cleanup(sc.Close)
	kv := dapr.NewStateStore(sc, "store")
	for deadline := time.Now().Add(60 * time.Second); ; {
		_, _, err := kv.Get(context.Background(), "ping")
		if err == nil || errors.Is(err, state.ErrNotFound) {
			return sc, kv
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(dir, "daprd.log"))
			t.Fatalf("the sidecar's store never answered: %v\n%s", err, b)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestRepositoryOnSQLite(t *testing.T) {
	db := filepath.Join(t.TempDir(), "contract.db")
	kv := sidecar(t, `apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: store
spec:
  type: state.sqlite
  version: v1
  metadata:
    - name: connectionString
      value: "`+db+`"
    - name: busyTimeout
      value: "10s"
`)
	repositoryContract(t, kv)
}

func TestRepositoryOnPostgreSQL(t *testing.T) {
	c, err := net.DialTimeout("tcp", "127.0.0.1:5432", time.Second)
	if err != nil {
		t.Skip("no PostgreSQL on 127.0.0.1:5432 (CI has one; make test-postgres needs it too)")
	}
	c.Close()
	prefix := fmt.Sprintf("contract_%d_", time.Now().UnixNano())
	kv := sidecar(t, `apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: store
spec:
  type: state.postgresql
  version: v2
  metadata:
    - name: connectionString
      value: "host=127.0.0.1 port=5432 user=postgres dbname=postgres sslmode=disable"
    - name: tablePrefix
      value: "`+prefix+`"
`)
	repositoryContract(t, kv)
}

// repositoryContract is what every app relies on, whatever the store.
func repositoryContract(t *testing.T, kv state.KV) {
	ctx := context.Background()
	repo := state.Repo[doc]{KV: kv, Prefix: fmt.Sprintf("c%d|", time.Now().UnixNano())}

	// insert-only: a second create of the same id conflicts
	if err := repo.Create(ctx, "a", &doc{N: 1}); err != nil {
		t.Fatal(err)
	}
	if err := repo.Create(ctx, "a", &doc{N: 2}); !errors.Is(err, state.ErrConflict) {
		t.Fatalf("second create: %v", err)
	}

	// concurrent updates of one key: none lost
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := repo.Update(ctx, "a", func(d *doc) error { d.N++; return nil })
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	ok := 0
	for err := range errs {
		if err == nil {
			ok++
		} else if !errors.Is(err, state.ErrConflict) {
			t.Fatalf("update: %v", err)
		}
	}
	if a, _ := repo.Get(ctx, "a"); a.N != 1+ok || ok == 0 {
		t.Fatalf("after %d successful updates n=%d", ok, a.N)
	}

	// a multi-key transaction: all or nothing, with ETag checks on what it read
	err := state.Transact(ctx, kv, func(tx *state.Tx) error {
		a, err := repo.Read(ctx, tx, "a")
		if err != nil {
			return err
		}
		b, err := repo.ReadOrNew(ctx, tx, "b")
		if err != nil {
			return err
		}
		a.Tags, b.N = append(a.Tags, "moved"), a.N
		if err := repo.Write(tx, "a", a); err != nil {
			return err
		}
		return repo.Write(tx, "b", b)
	})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := repo.Get(ctx, "a")
	b, _ := repo.Get(ctx, "b")
	if len(a.Tags) != 1 || b == nil || b.N != a.N {
		t.Fatalf("transaction: a=%+v b=%+v", a, b)
	}

	// a key read as absent is created only if still absent: someone else's
	// insert in between makes the transaction run again on fresh data
	runs := 0
	err = state.Transact(ctx, kv, func(tx *state.Tx) error {
		runs++
		c, err := repo.ReadOrNew(ctx, tx, "c")
		if err != nil {
			return err
		}
		if runs == 1 {
			if err := repo.Create(ctx, "c", &doc{N: 40}); err != nil {
				return err
			}
		}
		c.N += 2
		if err := repo.Write(tx, "c", c); err != nil {
			return err
		}
		repo.Remove(tx, "b")
		return nil
	})
	c, _ := repo.Get(ctx, "c")
	if err != nil || runs != 2 || c.N != 42 {
		t.Fatalf("err %v, runs %d, c=%+v", err, runs, c)
	}
	if _, err := repo.Get(ctx, "b"); !errors.Is(err, state.ErrNotFound) {
		t.Fatalf("b was not removed with the commit: %v", err)
	}

	// a failed transaction leaves nothing half-written
	err = state.Transact(ctx, kv, func(tx *state.Tx) error {
		if err := repo.Write(tx, "d", &doc{N: 1}); err != nil {
			return err
		}
		return repo.Insert(tx, "a", &doc{N: 0}) // a exists: the whole commit fails
	})
	if !errors.Is(err, state.ErrConflict) {
		t.Fatalf("insert over an existing key: %v", err)
	}
	if _, err := repo.Get(ctx, "d"); !errors.Is(err, state.ErrNotFound) {
		t.Fatalf("a failed transaction wrote d: %v", err)
	}

	// Upsert creates, then updates
	for want := 1; want <= 2; want++ {
		v, err := repo.Upsert(ctx, "e", func(d *doc, _ bool) error { d.N++; return nil })
		if err != nil || v.N != want {
			t.Fatalf("upsert %d: %+v %v", want, v, err)
		}
	}
}
