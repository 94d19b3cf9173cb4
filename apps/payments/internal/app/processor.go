package app

import (
	"context"
	"errors"
	"strings"
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
	// Refund returns a charge's money; the key makes repeated calls refund
	// at most once.
	Refund(ctx context.Context, ref string, amount int64, key string) error
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
	// refunded remembers each refund key the same way.
	refunded state.Repo[refundRecord]
	// attempts counts each key's calls durably, so the flaky test card's
	// errors do not start again when payments restarts.
	attempts state.Repo[int]
}

// NewSimulator returns a simulator keeping its idempotency records in kv.
func NewSimulator(slow time.Duration, kv state.KV) *Simulator {
	return &Simulator{Slow: slow, charged: state.Repo[ProcessorResult]{KV: kv, Prefix: "processor|"},
		refunded: state.Repo[refundRecord]{KV: kv, Prefix: "processor-refund|"},
		attempts: state.Repo[int]{KV: kv, Prefix: "processor-attempt|"}}
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
	attempt := 1
	if behaviour == "flaky" {
		n, err := s.attempts.Update(ctx, key, func(n *int) error { *n++; return nil })
		if errors.Is(err, state.ErrNotFound) {
			if err = s.attempts.Create(ctx, key, &attempt); errors.Is(err, state.ErrConflict) {
				n, err = s.attempts.Update(ctx, key, func(n *int) error { *n++; return nil })
			}
		}
		if err != nil {
			return ProcessorResult{}, err
		}
		if n != nil {
			attempt = *n
		}
	}
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

type refundRecord struct {
	Ref    string `json:"ref"`
	Amount int64  `json:"amount"`
}

// Refund implements Processor: the first call under a key gives the money
// back; later ones (a retry, a take-over after a crash) answer as it did.
func (s *Simulator) Refund(ctx context.Context, ref string, amount int64, key string) error {
	err := s.refunded.Create(ctx, key, &refundRecord{Ref: ref, Amount: amount})
	if errors.Is(err, state.ErrConflict) {
		return nil
	}
	return err
}
