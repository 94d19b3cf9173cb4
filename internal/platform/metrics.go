package platform

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is one process's Prometheus registry with the HTTP series every app has.
type Metrics struct {
	Registry *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inflight prometheus.Gauge
}

// NewMetrics creates the registry with Go and process collectors.
func NewMetrics(service string) *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	constLabels := prometheus.Labels{"service": service}
	m := &Metrics{
		Registry: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "harmonia_http_requests_total", Help: "HTTP requests served, by route template.", ConstLabels: constLabels,
		}, []string{"method", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "harmonia_http_request_duration_seconds", Help: "HTTP request latency, by route template.",
			ConstLabels: constLabels, Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"method", "route"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "harmonia_http_requests_in_flight", Help: "HTTP requests being served.", ConstLabels: constLabels,
		}),
	}
	reg.MustRegister(m.requests, m.duration, m.inflight)
	return m
}

// Handler serves the registry, and Shared.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(prometheus.Gatherers{m.Registry, Shared}, promhttp.HandlerOpts{Registry: m.Registry})
}

// Shared holds the series of packages that have no Metrics of their own (the
// outbox relay, the gateway's breakers); every app's /metrics serves it.
// (prometheus' default registry is not served: series registered there were
// never seen.)
var Shared = prometheus.NewRegistry()
