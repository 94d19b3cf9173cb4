// Package loadgen is an open-loop load generator: requests are scheduled at a
// constant arrival rate and each latency is measured from its intended send
// time, so a stall of the system under test shows up in the percentiles
// instead of silently slowing the generator down (coordinated omission).
package loadgen

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Request performs request number i and returns the HTTP status (0 on a
// transport error).
type Request func(ctx context.Context, c *http.Client, i int) int

// Config is one run.
type Config struct {
	Rate     float64       // requests per second
	Duration time.Duration // measured time
	Warmup   time.Duration // run but not measured
	Conns    int           // concurrent connections (workers)
	Timeout  time.Duration // per request
	Procs    map[string]int
	// PeakRSS samples the processes' resident memory every 100 ms of the
	// measured window (Result.PeakRSSMB).
	PeakRSS bool
}

// Result is what a run measured. Times are in milliseconds.
type Result struct {
	Scenario    string             `json:"scenario"`
	Rate        float64            `json:"targetRate"`
	Achieved    float64            `json:"achievedRate"`
	Requests    int                `json:"requests"`
	Errors      map[string]int     `json:"errors"`
	P50         float64            `json:"p50Ms"`
	P90         float64            `json:"p90Ms"`
	P95         float64            `json:"p95Ms"`
	P99         float64            `json:"p99Ms"`
	P999        float64            `json:"p999Ms"`
	Max         float64            `json:"maxMs"`
	Mean        float64            `json:"meanMs"`
	CPUPerReqMs map[string]float64 `json:"cpuMsPerRequest"`
	RSSMB       map[string]float64 `json:"rssMb"`
	PeakRSSMB   map[string]float64 `json:"peakRssMb,omitempty"`
	Notes       string             `json:"notes,omitempty"`
}

type sample struct {
	latency time.Duration
	status  int
}

// Run drives req at cfg.Rate and measures.
func Run(ctx context.Context, name string, cfg Config, req Request) Result {
	if cfg.Conns == 0 {
		cfg.Conns = 16
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	client := &http.Client{Timeout: cfg.Timeout, Transport: &http.Transport{
		MaxIdleConns: cfg.Conns, MaxIdleConnsPerHost: cfg.Conns, MaxConnsPerHost: cfg.Conns,
		IdleConnTimeout: time.Minute, DisableCompression: true,
	}}
	total := int(cfg.Rate * (cfg.Warmup + cfg.Duration).Seconds())
	warm := int(cfg.Rate * cfg.Warmup.Seconds())
	type job struct {
		i        int
		intended time.Time
	}
	jobs := make(chan job, total+1)
	samples := make([]sample, total)
	var wg sync.WaitGroup
	for w := 0; w < cfg.Conns; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				st := req(ctx, client, j.i)
				samples[j.i] = sample{latency: time.Since(j.intended), status: st}
			}
		}()
	}
	start := time.Now()
	var before map[string]procStat
	var measureStart time.Time
	var stopPeak, peakDone chan struct{}
	peak := map[string]float64{}
	for i := 0; i < total; i++ {
		intended := start.Add(time.Duration(float64(i) / cfg.Rate * float64(time.Second)))
		if i == warm {
			before, measureStart = readProcs(cfg.Procs), intended
			if cfg.PeakRSS {
				stopPeak, peakDone = make(chan struct{}), make(chan struct{})
				go samplePeak(cfg.Procs, peak, stopPeak, peakDone)
			}
		}
		if d := time.Until(intended); d > 0 {
			select {
			case <-ctx.Done():
				total = i
			case <-time.After(d):
			}
		}
		if ctx.Err() != nil {
			break
		}
		jobs <- job{i: i, intended: intended}
	}
	close(jobs)
	wg.Wait()
	if stopPeak != nil {
		close(stopPeak)
		<-peakDone
	}
	// the next run has a client of its own: this one's connections must not
	// linger (idle, each holds a goroutine in the server) and be counted
	// against whatever is measured next
	client.CloseIdleConnections()
	elapsed := time.Since(measureStart)
	after := readProcs(cfg.Procs)

	res := Result{Scenario: name, Rate: cfg.Rate, Errors: map[string]int{}, CPUPerReqMs: map[string]float64{}, RSSMB: map[string]float64{}}
	if cfg.PeakRSS {
		res.PeakRSSMB = peak
	}
	var lat []float64
	for _, s := range samples[warm:total] {
		ms := float64(s.latency.Microseconds()) / 1000
		lat = append(lat, ms)
		if s.status < 200 || s.status >= 400 {
			res.Errors[strconv.Itoa(s.status)]++
		}
	}
	if len(lat) == 0 {
		return res
	}
	res.Summarize(lat)
	res.Achieved = float64(len(lat)) / elapsed.Seconds()
	for name, b := range before {
		a, ok := after[name]
		if !ok {
			continue
		}
		res.CPUPerReqMs[name] = (a.cpu - b.cpu).Seconds() * 1000 / float64(len(lat))
		res.RSSMB[name] = a.rssMB
	}
	return res
}

// Summarize fills the percentiles from latencies in milliseconds.
func (r *Result) Summarize(lat []float64) {
	if len(lat) == 0 {
		return
	}
	sort.Float64s(lat)
	var sum float64
	for _, v := range lat {
		sum += v
	}
	q := func(p float64) float64 { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	r.Requests = len(lat)
	r.P50, r.P90, r.P95, r.P99, r.P999 = q(0.5), q(0.9), q(0.95), q(0.99), q(0.999)
	r.Max, r.Mean = lat[len(lat)-1], sum/float64(len(lat))
}

type procStat struct {
	cpu   time.Duration
	rssMB float64
}

// readProcs samples CPU time (user+system) and resident memory from /proc.
func readProcs(pids map[string]int) map[string]procStat {
	out := map[string]procStat{}
	for name, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		if len(f) < 22 {
			continue
		}
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		rssPages, _ := strconv.ParseInt(f[21], 10, 64)
		out[name] = procStat{cpu: time.Duration(ut+st) * 10 * time.Millisecond, // CLK_TCK is 100 on Linux
			rssMB: float64(rssPages*int64(os.Getpagesize())) / (1 << 20)}
	}
	return out
}

// samplePeak keeps the largest resident memory of each process until stop.
func samplePeak(pids map[string]int, peak map[string]float64, stop, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		for name, st := range readProcs(pids) {
			peak[name] = max(peak[name], st.rssMB)
		}
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

// WaitIdle waits until the processes together use less than 0.3 of a
// core over a second (work a run left behind, such as a backlog of
// workflows, is done), or until limit; it returns how long it waited.
func WaitIdle(ctx context.Context, pids map[string]int, limit time.Duration) time.Duration {
	start := time.Now()
	total := func() time.Duration {
		var sum time.Duration
		for _, st := range readProcs(pids) {
			sum += st.cpu
		}
		return sum
	}
	prev := total()
	for time.Since(start) < limit && ctx.Err() == nil {
		time.Sleep(time.Second)
		cur := total()
		if cur-prev < 300*time.Millisecond {
			break
		}
		prev = cur
	}
	return time.Since(start)
}
