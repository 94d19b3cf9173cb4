package proxy_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/harmonia-music/harmonia/apps/gateway/internal/proxy"
)

func TestBreakerCountsOnlyFailures(t *testing.T) {
	var b proxy.Breaker
	now := time.Now()
	for i := 0; i < 50; i++ { // 4xx answers are successes: the service works
		if ok, _ := b.Allow(now); !ok {
			t.Fatal("refused after successes")
		}
		b.Record(proxy.Success, now)
	}
	for i := 0; i < proxy.BreakerFailures-1; i++ {
		b.Record(proxy.Failure, now)
	}
	b.Record(proxy.Neutral, now) // a client that went away says nothing
	if ok, _ := b.Allow(now); !ok {
		t.Fatal("open before the threshold")
	}
	b.Record(proxy.Failure, now)
	ok, wait := b.Allow(now.Add(time.Second))
	if ok || wait <= 0 || wait > proxy.BreakerOpenFor {
		t.Fatalf("after %d failures: allowed %v, wait %s", proxy.BreakerFailures, ok, wait)
	}
	// half-open: one request tries, the others wait
	later := now.Add(proxy.BreakerOpenFor + time.Millisecond)
	if ok, _ := b.Allow(later); !ok {
		t.Fatal("no probe after the open period")
	}
	if ok, _ := b.Allow(later); ok {
		t.Fatal("a second request while the probe is out")
	}
	b.Record(proxy.Failure, later) // the probe failed: open again
	if ok, _ := b.Allow(later.Add(time.Second)); ok {
		t.Fatal("closed after a failed probe")
	}
	again := later.Add(proxy.BreakerOpenFor + time.Millisecond)
	if ok, _ := b.Allow(again); !ok {
		t.Fatal("no second probe")
	}
	b.Record(proxy.Success, again)
	if ok, _ := b.Allow(again); !ok || b.Open(again) {
		t.Fatal("still open after a successful probe")
	}
}

// A service that never answers: after the breaker's threshold of route
// deadlines the gateway answers 503 with Retry-After at once, without a
// request reaching the sidecar.
func TestOpenBreakerAnswersAtOnce(t *testing.T) {
	var calls atomic.Int32
	release := make(chan struct{})
	sidecar := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer sidecar.Close()
	defer close(release)
	p, err := proxy.New(sidecar.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	h := p.To("albums")
	for i := 0; i < proxy.BreakerFailures+3; i++ {
		rec := httptest.NewRecorder()
		r := httptest.NewRequest("GET", "/api/v1/albums", nil)
		dw, ctx, stop := proxy.FirstByteDeadline(rec, r.Context(), 50*time.Millisecond)
		h.ServeHTTP(dw, r.WithContext(ctx))
		stop()
		if rec.Code != 503 || rec.Header().Get("Retry-After") == "" || !strings.Contains(rec.Body.String(), "albums") {
			t.Fatalf("request %d: %d %v %s", i, rec.Code, rec.Header(), rec.Body)
		}
	}
	if n := calls.Load(); n != proxy.BreakerFailures {
		t.Fatalf("%d requests reached the sidecar, want %d (then the breaker answers)", n, proxy.BreakerFailures)
	}
}

// The deadline is for the answer to begin: a stream that began is not cut.
func TestFirstByteDeadlineSparesAStartedAnswer(t *testing.T) {
	rec := httptest.NewRecorder()
	w, ctx, stop := proxy.FirstByteDeadline(rec, context.Background(), 30*time.Millisecond)
	defer stop()
	w.WriteHeader(206)
	time.Sleep(60 * time.Millisecond)
	if ctx.Err() != nil {
		t.Fatalf("context ended after the answer began: %v", context.Cause(ctx))
	}
	_, ctx2, stop2 := proxy.FirstByteDeadline(httptest.NewRecorder(), context.Background(), 10*time.Millisecond)
	defer stop2()
	<-ctx2.Done()
	if !errors.Is(context.Cause(ctx2), proxy.ErrRouteDeadline) {
		t.Fatalf("cause %v", context.Cause(ctx2))
	}
}

// Many requests at once (the race detector runs unit tests): the breaker
// stays consistent, and a half-open breaker lets exactly one probe through.
func TestBreakerUnderConcurrentRequests(t *testing.T) {
	var b proxy.Breaker
	now := time.Now()
	for i := 0; i < proxy.BreakerFailures; i++ {
		b.Record(proxy.Failure, now)
	}
	later := now.Add(proxy.BreakerOpenFor + time.Millisecond)
	var allowed atomic.Int32
	done := make(chan struct{})
	for i := 0; i < 50; i++ {
		go func() {
			defer func() { done <- struct{}{} }()
			if ok, _ := b.Allow(later); ok {
				allowed.Add(1)
			}
		}()
	}
	for i := 0; i < 50; i++ {
		<-done
	}
	if n := allowed.Load(); n != 1 {
		t.Fatalf("%d probes let through a half-open breaker, want 1", n)
	}
}
