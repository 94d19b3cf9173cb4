package app

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/harmonia-music/harmonia/internal/platform/state"
)

// Processor is the card processor port; a real one replaces the simulator.
type Processor interface {
	// Tokenize registers a card and returns a token that stands for it.
	Tokenize(ctx context.Context, number string, expMonth, expYear int) (string, error)
	// Charge takes amount; the key makes repeated calls charge at most once.
	Charge(ctx context.Context, token string, amount int64, currency, key string) (ProcessorResult, error)
	// Refund returns a charge's money.
	Refund(ctx context.Context, ref string, amount int64) error
}

// ProcessorResult is a processor's answer. A non-nil error from Charge is
// transient (try again); a decline is a result.
type ProcessorResult struct {
	Approved bool   `json:"approved"`
	Ref      string `json:"ref"`
	Decline  string `json:"decline"` // card_declined, insufficient_funds
}

// ErrProcessorTransient is the simulator's transient failure.
var ErrProcessorTransient = errors.New("processor error")

// Simulator is an in-process card processor with test cards:
// 4242424242424242 approved; 4000000000000002 declined; 4000000000009995
// insufficient funds; 4000000000000119 a processor error on the first two
// attempts of a key, then approved; 4000000000000259 answers only after Slow
// (longer than any charge timeout). Other valid numbers are approved.
// The behaviour travels in the token, so no card number is stored anywhere.
type Simulator struct {
	Slow time.Duration
	// charged remembers each key's result durably, as a real processor does,
	// so a key never charges twice, even across a crash of payments.
	charged state.Repo[ProcessorResult]

	mu       sync.Mutex
	attempts map[string]int
}

// NewSimulator returns a simulator keeping its idempotency records in kv.
func NewSimulator(slow time.Duration, kv state.KV) *Simulator {
	return &Simulator{Slow: slow, attempts: map[string]int{}, charged: state.Repo[ProcessorResult]{KV: kv, Prefix: "processor|"}}
}

var behaviours = map[string]string{
	"4000000000000002": "declined", "4000000000009995": "insufficient", "4000000000000119": "flaky", "4000000000000259": "slow",
}

// Tokenize implements Processor.
func (s *Simulator) Tokenize(_ context.Context, number string, _, _ int) (string, error) {
	b, ok := behaviours[number]
	if !ok {
		b = "ok"
	}
	return "tok_" + b + "_" + uuid.NewString(), nil
}

// Charge implements Processor.
func (s *Simulator) Charge(ctx context.Context, token string, _ int64, _ string, key string) (ProcessorResult, error) {
	behaviour := strings.SplitN(strings.TrimPrefix(token, "tok_"), "_", 2)[0]
	if r, err := s.charged.Get(ctx, key); err == nil {
		return *r, nil
	}
	s.mu.Lock()
	s.attempts[key]++
	attempt := s.attempts[key]
	s.mu.Unlock()
	var r ProcessorResult
	switch behaviour {
	case "declined":
		r = ProcessorResult{Decline: "card_declined"}
	case "insufficient":
		r = ProcessorResult{Decline: "insufficient_funds"}
	case "flaky":
		if attempt <= 2 {
			return r, ErrProcessorTransient
		}
		r = ProcessorResult{Approved: true}
	case "slow":
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-time.After(s.Slow):
		}
		r = ProcessorResult{Approved: true}
	default:
		r = ProcessorResult{Approved: true}
	}
	if r.Approved {
		r.Ref = "ch_" + uuid.NewString()
	}
	if err := s.charged.Put(ctx, key, &r); err != nil {
		return ProcessorResult{}, err
	}
	return r, nil
}

// Refund implements Processor.
func (s *Simulator) Refund(context.Context, string, int64) error { return nil }
