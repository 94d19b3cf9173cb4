package proxy

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/harmonia-music/harmonia/internal/platform"
)

// Outcome is what one forwarded request says about the service behind it.
type Outcome int

const (
	// Neutral says nothing: the client went away, the body was too large,
	// an access-control refusal (a deployment error, not a sick service).
	Neutral Outcome = iota
	// Success is any answer below 500, 4xx included: a wrong password or an
	// invalid form says the service works.
	Success
	// Failure is a timeout (the route's deadline, the sidecar's), a
	// transport error, or a 5xx.
	Failure
)

// Breaker settings: this many failures in a row open it for OpenFor.
const (
	BreakerFailures = 5
	BreakerOpenFor  = 5 * time.Second
)

var breakerRejections = promauto.With(platform.Shared).NewCounterVec(prometheus.CounterOpts{
	Name: "harmonia_gateway_breaker_rejections_total",
	Help: "Requests answered 503 at once because the target app's circuit breaker was open.",
}, []string{"app"})

// Breaker is a target app's circuit breaker at the gateway. Dapr's own
// breakers count every non-2xx answer, 4xx included (so a handful of wrong
// passwords would open one for everybody); this one counts only timeouts,
// transport errors and 5xx. After BreakerFailures in a row it opens: the
// gateway answers 503 with Retry-After for BreakerOpenFor without calling
// the app, then lets one request through (half-open) and closes on its
// success.
type Breaker struct {
	mu        sync.Mutex
	failures  int
	openUntil time.Time
	probing   bool
}

// Allow says whether a request may go to the app now, and if not, how long
// the client should wait.
func (b *Breaker) Allow(now time.Time) (bool, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.failures < BreakerFailures {
		return true, 0
	}
	if now.Before(b.openUntil) {
		return false, b.openUntil.Sub(now)
	}
	if b.probing {
		return false, time.Second
	}
	b.probing = true
	return true, 0
}

// Record reports how an allowed request went.
func (b *Breaker) Record(o Outcome, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	wasProbe := b.probing && b.failures >= BreakerFailures
	if wasProbe {
		b.probing = false
	}
	switch o {
	case Success:
		b.failures = 0
	case Failure:
		b.failures++
		if b.failures >= BreakerFailures {
			b.openUntil = now.Add(BreakerOpenFor)
		}
	}
}

// Open says whether the breaker refuses requests at this moment.
func (b *Breaker) Open(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.failures >= BreakerFailures && now.Before(b.openUntil)
}
