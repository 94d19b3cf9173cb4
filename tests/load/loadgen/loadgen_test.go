package loadgen

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"testing"
	"time"
)

// A server that stalls once must show the stall in the tail: latency is
// measured from the intended send time, not from when a worker got free.
func TestStallShowsInTheTail(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 60 {
			time.Sleep(300 * time.Millisecond)
		}
		if r.URL.Path == "/bad" {
			w.WriteHeader(503)
		}
	}))
	defer srv.Close()
	res := Run(context.Background(), "t", Config{Rate: 200, Duration: time.Second, Warmup: 200 * time.Millisecond, Conns: 1,
		Procs: map[string]int{"self": os.Getpid()}},
		func(ctx context.Context, c *http.Client, i int) int {
			path := "/"
			if i%50 == 0 {
				path = "/bad"
			}
			resp, err := c.Get(srv.URL + path)
			if err != nil {
				return 0
			}
			resp.Body.Close()
			return resp.StatusCode
		})
	if res.Requests != 200 || res.Errors["503"] != 4 {
		t.Fatalf("%d requests, errors %v", res.Requests, res.Errors)
	}
	// with one connection, the requests queued behind the stall waited too
	if res.Max < 250 || res.P90 < 20 {
		t.Fatalf("stall hidden: max %.1f ms, p90 %.1f ms", res.Max, res.P90)
	}
	if _, ok := res.RSSMB["self"]; !ok {
		t.Fatal("no /proc sample")
	}
}
