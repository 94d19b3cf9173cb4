package devstack

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
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
