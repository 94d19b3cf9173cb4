package main

import (
	"context"
	"strings"
	"testing"

	"github.com/harmonia-music/harmonia/tests/load/loadgen"
)

// The search keeps the last step that held and stops at the first that did
// not: over the limit, an error, or behind the offered rate.
func TestClimbStopsAtTheFirstStepThatDoesNotHold(t *testing.T) {
	for _, tc := range []struct {
		name  string
		step  func(rate float64) loadgen.Result
		want  float64
		tried int
	}{
		{"p99 over the limit", func(rate float64) loadgen.Result {
			return loadgen.Result{Rate: rate, Achieved: rate, Requests: 10, P99: rate / 10}
		}, 200, 3},
		{"an error", func(rate float64) loadgen.Result {
			r := loadgen.Result{Rate: rate, Achieved: rate, Requests: 10, P99: 1}
			if rate == 200 {
				r.Errors = map[string]int{"503": 1}
			}
			return r
		}, 100, 2},
		{"behind the offered rate", func(rate float64) loadgen.Result {
			return loadgen.Result{Rate: rate, Achieved: min(rate, 250), Requests: 10, P99: 1}
		}, 200, 3},
		{"nothing holds", func(rate float64) loadgen.Result {
			return loadgen.Result{Rate: rate, Achieved: rate, Requests: 10, P99: 99}
		}, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tried := 0
			got, err := climb(context.Background(), "x-capacity", []float64{100, 200, 300, 400}, 25, true, func(_ context.Context, rate float64) (loadgen.Result, error) {
				tried++
				return tc.step(rate), nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if got.Rate != tc.want || tried != tc.tried {
				t.Fatalf("capacity %v after %d steps, want %v after %d", got.Rate, tried, tc.want, tc.tried)
			}
			if got.Scenario != "x-capacity" || strings.Count(got.Notes, "/s: p99") != tc.tried {
				t.Fatalf("result %q, notes %q", got.Scenario, got.Notes)
			}
		})
	}
}
