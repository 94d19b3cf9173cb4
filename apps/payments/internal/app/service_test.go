package app

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/harmonia-music/harmonia/apps/payments/internal/domain"
	"github.com/harmonia-music/harmonia/internal/platform"
	"github.com/harmonia-music/harmonia/internal/platform/state"
)

type okBilling struct{ err error }

func (b okBilling) Verify(context.Context, string) error { return b.err }

// gatedProcessor approves only when released, to test refunds racing a charge.
type gatedProcessor struct {
	*Simulator
	gate     chan struct{}
	mu       sync.Mutex
	refunded []string
}

func (g *gatedProcessor) Charge(ctx context.Context, token string, amount int64, cur, key string) (ProcessorResult, error) {
	<-g.gate
	return ProcessorResult{Approved: true, Ref: "ch_late"}, nil
}

func (g *gatedProcessor) Refund(_ context.Context, ref string, _ int64) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.refunded = append(g.refunded, ref)
	return nil
}

const uid = "01930000-0000-7000-8000-0000000000c1"

func card(n string) domain.CardInput {
	return domain.CardInput{CardNumber: n, ExpMonth: 12, ExpYear: 2031, CVC: "123", HolderName: "Ana"}
}

func TestChargesAreIdempotentAndRefundsVoid(t *testing.T) {
	ctx := context.Background()
	kv := state.NewMemory()
	s := New(kv, NewSimulator(time.Second, kv), okBilling{}, 200*time.Millisecond, nil)
	pm, err := s.AddMethod(ctx, uid, card("4242424242424242"))
	if err != nil || pm.Last4 != "4242" || pm.Brand != "visa" {
		t.Fatal(pm, err)
	}
	in := ChargeInput{IdempotencyKey: "k1", UserID: uid, PaymentMethodID: pm.ID, Amount: 999, Currency: "EUR"}
	first, err := s.Charge(ctx, in)
	if err != nil || first.Status != domain.Succeeded {
		t.Fatal(first, err)
	}
	again, _ := s.Charge(ctx, in)
	if again.ID != first.ID || again.Attempts != 1 {
		t.Fatalf("a repeated key charged again: %+v", again)
	}
	if r, err := s.Refund(ctx, "k1"); err != nil || r.Status != domain.Refunded {
		t.Fatal(r, err)
	}
	if r, _ := s.Refund(ctx, "k1"); r.Status != domain.Refunded {
		t.Fatal("second refund")
	}
	if r, err := s.Refund(ctx, "never-charged"); err != nil || r.Status != domain.Voided {
		t.Fatal(r, err)
	}
	in.IdempotencyKey = "never-charged"
	if c, err := s.Charge(ctx, in); err != nil || c.Status != domain.Voided {
		t.Fatalf("a voided key charged: %+v %v", c, err)
	}
	// slow card: the processor timeout is a transient failure, nothing charged
	slow, _ := s.AddMethod(ctx, uid, card("4000000000000259"))
	if _, err := s.Charge(ctx, ChargeInput{IdempotencyKey: "k2", UserID: uid, PaymentMethodID: slow.ID, Amount: 1, Currency: "EUR"}); platform.StatusOf(err) != 503 {
		t.Fatal(err)
	}
	// someone else's payment method, and billing refused
	if _, err := s.Charge(ctx, ChargeInput{IdempotencyKey: "k3", UserID: "01930000-0000-7000-8000-0000000000c2", PaymentMethodID: pm.ID, Amount: 1, Currency: "EUR"}); platform.StatusOf(err) != 400 {
		t.Fatal(err)
	}
	s.billing = okBilling{err: platform.E(platform.KindForbidden, "no", "no")}
	if _, err := s.Charge(ctx, ChargeInput{IdempotencyKey: "k4", UserID: uid, PaymentMethodID: pm.ID, Amount: 1, Currency: "EUR"}); platform.StatusOf(err) != 403 {
		t.Fatal(err)
	}
	// events commit with the charge (the outbox), one per outcome
	if len(kv.Events) != 2 || kv.Events[0].Topic != "payment.succeeded" || kv.Events[1].Topic != "payment.refunded" {
		t.Fatal(kv.Events)
	}
	hist, _ := s.Payments(ctx, uid)
	if len(hist) != 2 || hist[0].Key != "k2" || hist[1].Key != "k1" { // newest first; refused attempts leave nothing
		t.Fatalf("history: %d", len(hist))
	}
}

func TestApprovalAfterVoidIsGivenBack(t *testing.T) {
	ctx := context.Background()
	kv := state.NewMemory()
	g := &gatedProcessor{Simulator: NewSimulator(time.Second, kv), gate: make(chan struct{})}
	s := New(kv, g, okBilling{}, 5*time.Second, nil)
	pm, _ := s.AddMethod(ctx, uid, card("4242424242424242"))
	done := make(chan *domain.Charge)
	go func() {
		c, _ := s.Charge(ctx, ChargeInput{IdempotencyKey: "late", UserID: uid, PaymentMethodID: pm.ID, Amount: 5, Currency: "EUR"})
		done <- c
	}()
	for {
		c, err := s.charges.Get(ctx, "late")
		if err == nil && c.Status == domain.Processing {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if r, err := s.Refund(ctx, "late"); err != nil || r.Status != domain.Voided {
		t.Fatal(r, err)
	}
	close(g.gate)
	c := <-done
	if c.Status != domain.Voided || len(g.refunded) != 1 || g.refunded[0] != "ch_late" {
		t.Fatalf("late approval kept: %+v, refunds %v", c, g.refunded)
	}
}

func TestMethodsBelongToTheirOwner(t *testing.T) {
	ctx := context.Background()
	kv := state.NewMemory()
	s := New(kv, NewSimulator(time.Second, kv), okBilling{}, time.Second, nil)
	pm, _ := s.AddMethod(ctx, uid, card("5555555555554444"))
	if err := s.DeleteMethod(ctx, "01930000-0000-7000-8000-0000000000c2", pm.ID); !errors.Is(err, domain.ErrMethodNotFound) {
		t.Fatal(err)
	}
	if err := s.DeleteMethod(ctx, uid, pm.ID); err != nil {
		t.Fatal(err)
	}
	if ms, _ := s.Methods(ctx, uid); len(ms) != 0 {
		t.Fatal(ms)
	}
}
