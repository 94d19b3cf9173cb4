package devstack

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// A data directory whose administrator has another password: one sign-in,
// no retry (each would count towards locking the account and the address),
// and a message that says what to do.
func TestSeedStopsAtOnceOnAWrongAdminPassword(t *testing.T) {
	var logins atomic.Int32
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v1/auth/login" {
			logins.Add(1)
		}
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"status":401}`))
	}))
	defer gw.Close()
	t.Setenv("HARMONIA_ADMIN_PASSWORD", "not-the-one")
	var out bytes.Buffer
	s := &Stack{opts: Options{DataDir: "/tmp/some/.data", Out: &out}, info: Info{GatewayURL: gw.URL}}
	done := make(chan error, 1)
	go func() { done <- s.seedCatalogue(context.Background(), CatalogDemo) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "HARMONIA_ADMIN_PASSWORD") || !strings.Contains(err.Error(), "make clean") ||
			!strings.Contains(err.Error(), "/tmp/some/.data") {
			t.Fatalf("message: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the seeding kept trying a wrong password")
	}
	if n := logins.Load(); n != 1 {
		t.Fatalf("%d sign-in attempts with a wrong password", n)
	}
}

// A sign-in locked for minutes is reported, not waited out in silence.
func TestSeedDoesNotWaitOutALockout(t *testing.T) {
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "900")
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	defer gw.Close()
	s := &Stack{opts: Options{DataDir: "/tmp/x", Out: &bytes.Buffer{}}, info: Info{GatewayURL: gw.URL}}
	done := make(chan error, 1)
	go func() { done <- s.seedCatalogue(context.Background(), CatalogDemo) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "throttled for 15m0s") {
			t.Fatalf("message: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the seeding waited out a 15-minute lockout")
	}
}

// The data directory is private (it holds state, keys and tokens), and auth
// gets the same key-encryption key on every start of one data directory.
func TestDataDirIsPrivateAndKeepsItsKeyEncryptionKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), ".data")
	if err := os.MkdirAll(dir, 0o755); err != nil { // made before the rule
		t.Fatal(err)
	}
	s := &Stack{opts: Options{DataDir: dir}}
	if err := s.prepareDirs(); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"", "state", "secrets"} {
		fi, err := os.Stat(filepath.Join(dir, d))
		if err != nil || fi.Mode().Perm() != 0o700 {
			t.Fatalf("%s: %v %v", d, fi.Mode().Perm(), err)
		}
	}
	fi, err := os.Stat(filepath.Join(dir, "secrets", "auth-key-encryption-key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v", err)
	}
	first := s.kekEnv
	again := &Stack{opts: Options{DataDir: dir}}
	if err := again.prepareDirs(); err != nil {
		t.Fatal(err)
	}
	if len(first) != 1 || !strings.HasPrefix(first[0], "HARMONIA_AUTH_KEY_ENCRYPTION_KEY=") || again.kekEnv[0] != first[0] {
		t.Fatalf("%v then %v", first, again.kekEnv)
	}
	// one given in the environment wins, and nothing is written
	given := &Stack{opts: Options{DataDir: t.TempDir(), Env: []string{"HARMONIA_AUTH_KEY_ENCRYPTION_KEY=x"}}}
	if err := given.prepareDirs(); err != nil || given.kekEnv != nil {
		t.Fatal(given.kekEnv, err)
	}
}
