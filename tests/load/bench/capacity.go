package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/harmonia-music/harmonia/tests/load/loadgen"
)

// A capacity search steps the offered rate up and stops at the first step
// that does not hold: its p99 is over the limit, a request failed, or (for
// requests the load generator times itself) fewer than 90 % of the offered
// requests per second completed. The result is the last step that held, the
// capacity; its notes list every step. Latency is measured from the intended
// send time, so a system that falls behind shows it in the p99 of the step
// where it does.

// rung measures one step at the given rate.
type rung func(ctx context.Context, rate float64) (loadgen.Result, error)

func climb(ctx context.Context, name string, rates []float64, limitMS float64, checkAchieved bool, measure rung) (loadgen.Result, error) {
	var best loadgen.Result
	var steps []string
	for _, rate := range rates {
		if ctx.Err() != nil {
			return best, ctx.Err()
		}
		r, err := measure(ctx, rate)
		if err != nil {
			return best, err
		}
		errs := 0
		for _, n := range r.Errors {
			errs += n
		}
		why := ""
		switch {
		case r.Requests == 0:
			why = "nothing completed"
		case r.P99 > limitMS:
			why = fmt.Sprintf("p99 %.1f ms over %.0f ms", r.P99, limitMS)
		case errs > 0:
			why = fmt.Sprintf("errors %v", r.Errors)
		case checkAchieved && r.Achieved < 0.9*rate:
			why = fmt.Sprintf("achieved %.0f/s of %.0f/s", r.Achieved, rate)
		}
		fmt.Printf("  %s at %.0f/s: p50 %.2f ms, p99 %.2f ms, achieved %.1f/s, errors %v%s\n", name, rate, r.P50, r.P99, r.Achieved, r.Errors, map[bool]string{true: " — " + why, false: ""}[why != ""])
		steps = append(steps, fmt.Sprintf("%.0f/s: p99 %.1f ms, achieved %.1f/s%s", rate, r.P99, r.Achieved, map[bool]string{true: " (" + why + ")", false: ""}[why != ""]))
		if why != "" {
			break
		}
		best = r
	}
	best.Scenario = name
	best.Notes = fmt.Sprintf("capacity %.0f/s: the highest offered rate with p99 under %.0f ms and no errors; steps: %s", best.Rate, limitMS, strings.Join(steps, "; "))
	return best, nil
}

// runWorkflowFloor starts bare workflows of three no-op activities at rate
// and measures each from the intended send time to its completion (the app
// answers POST /run when the workflow has completed).
func runWorkflowFloor(ctx context.Context, floor stackInfo, c loadgen.Config) loadgen.Result {
	wf := floor.app("floor-workflow")
	c.Conns = max(c.Conns, 256) // each request is held open until its workflow completes
	return loadgen.Run(ctx, "workflow-floor", c, post(fmt.Sprintf("http://127.0.0.1:%d/run", wf.AppPort), nil, nil))
}

// runCheckout offers checkouts (each by a listener of its own with a
// working card) at c.Rate and measures each from sending POST
// /api/v1/subscriptions to the subscription's activation.
func runCheckout(ctx context.Context, base string, c loadgen.Config) (loadgen.Result, error) {
	n := int(c.Rate * (c.Warmup + c.Duration).Seconds())
	buyers, err := prepareBuyers(ctx, base, n)
	if err != nil {
		return loadgen.Result{}, err
	}
	c.Conns = max(c.Conns, 64) // each checkout is held open until it completes
	post := loadgen.Run(ctx, "checkout", c, buyers.checkout)
	lat, failed, rate := buyers.settle(ctx, int(c.Rate*c.Warmup.Seconds()))
	res := post
	res.Summarize(lat)
	res.Errors, res.Achieved = failed, rate
	res.Notes = fmt.Sprintf("latency: from sending POST /api/v1/subscriptions to activation (the subscription's periodStart); achieved = completed checkouts per second; the POST alone: p50 %.1f ms, p99 %.1f ms", post.P50, post.P99)
	return res, nil
}

// capacities runs the two capacity searches of issue 17: the two-sidecar
// floor and the read path (p99 under 25 ms), and the workflow floor and the
// checkout (p99 completion under 1 s).
func capacities(ctx context.Context, o options, floor, main stackInfo, fx *fixture, body []byte) ([]loadgen.Result, error) {
	step := func(rate float64, procs map[string]int) loadgen.Config {
		return loadgen.Config{Rate: rate, Duration: o.stepDuration, Warmup: o.stepWarmup, Conns: o.conns, Procs: procs}
	}
	var out []loadgen.Result
	all := floor.procs()
	for k, v := range main.procs() {
		all["main-"+k] = v
	}
	add := func(r loadgen.Result, err error) error {
		if err != nil {
			return err
		}
		out = append(out, r)
		// the step that did not hold may have left work behind (a backlog
		// of workflows): the next search starts on a quiet machine
		if d := loadgen.WaitIdle(ctx, all, 3*time.Minute); d > 2*time.Second {
			fmt.Printf("  (waited %s for the stacks to go idle)\n", d.Round(time.Second))
		}
		return nil
	}
	caller := floor.app("floor-caller")
	via := fmt.Sprintf("http://127.0.0.1:%d/echo", caller.DaprHTTPPort)
	hdr := map[string]string{"dapr-app-id": "floor-echo", "dapr-api-token": caller.DaprAPIToken}
	if err := add(climb(ctx, "floor-capacity", o.floorSteps, 25, true, func(ctx context.Context, rate float64) (loadgen.Result, error) {
		c := step(rate, floor.procs())
		c.Conns = max(c.Conns, 64)
		return loadgen.Run(ctx, "floor", c, post(via, body, hdr)), nil
	})); err != nil {
		return out, err
	}
	if err := add(climb(ctx, "read-capacity", o.readSteps, 25, true, func(ctx context.Context, rate float64) (loadgen.Result, error) {
		c := step(rate, main.procs())
		c.Conns = max(c.Conns, 64)
		return loadgen.Run(ctx, "read", c, func(ctx context.Context, cl *http.Client, i int) int {
			return get(ctx, cl, fx.base+"/albums/"+fx.albums[i%len(fx.albums)], fx.tokens[i%len(fx.tokens)], "")
		}), nil
	})); err != nil {
		return out, err
	}
	if err := add(climb(ctx, "workflow-floor-capacity", o.workflowSteps, 1000, true, func(ctx context.Context, rate float64) (loadgen.Result, error) {
		return runWorkflowFloor(ctx, floor, step(rate, floor.procs())), nil
	})); err != nil {
		return out, err
	}
	// completion rate here is counted from the first send to the last
	// activation, so it is below the offered rate by the tail's length: only
	// p99 and failures decide
	if err := add(climb(ctx, "checkout-capacity", o.checkoutSteps, 1000, false, func(ctx context.Context, rate float64) (loadgen.Result, error) {
		return runCheckout(ctx, fx.base, step(rate, main.procs()))
	})); err != nil {
		return out, err
	}
	return out, nil
}

// capacityLines renders the ratios the issue asks for.
func capacityLines(results []loadgen.Result) string {
	byName := map[string]loadgen.Result{}
	for _, r := range results {
		byName[r.Scenario] = r
	}
	var b strings.Builder
	ratio := func(label, num, den, target string) {
		n, okN := byName[num]
		d, okD := byName[den]
		if !okN || !okD {
			return
		}
		v := "n/a (the denominator held at no step)"
		if d.Rate > 0 {
			v = fmt.Sprintf("%.2f", n.Rate/d.Rate)
		}
		fmt.Fprintf(&b, "- %s: %.0f/s ÷ %.0f/s = %s (target %s)\n", label, n.Rate, d.Rate, v, target)
	}
	ratio("read capacity / floor capacity (p99 < 25 ms)", "read-capacity", "floor-capacity", "≥ 0.6")
	ratio("checkout capacity / workflow floor capacity (p99 completion < 1 s)", "checkout-capacity", "workflow-floor-capacity", "≥ 0.8")
	for _, name := range []string{"floor-capacity", "read-capacity", "workflow-floor-capacity", "checkout-capacity"} {
		if r, ok := byName[name]; ok {
			fmt.Fprintf(&b, "- %s: %s\n", name, r.Notes)
		}
	}
	return b.String()
}

func parseRates(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		var v float64
		if _, err := fmt.Sscan(strings.TrimSpace(f), &v); err != nil || v <= 0 {
			return nil, fmt.Errorf("rate %q: want a positive number", f)
		}
		out = append(out, v)
	}
	return out, nil
}
