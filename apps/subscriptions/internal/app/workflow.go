package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dapr/durabletask-go/workflow"

	"github.com/harmonia-music/harmonia/apps/subscriptions/internal/domain"
	"github.com/harmonia-music/harmonia/internal/platform/state"
)

// CheckoutInput is the checkout workflow's input; the instance id is the
// subscription id.
type CheckoutInput struct {
	SubscriptionID string        `json:"subscriptionId"`
	Cycle          int           `json:"cycle"` // 0: the first purchase; n: the n-th renewal has been paid
	Period         time.Duration `json:"period,omitempty"`
}

// periodFor is the billing period; with test hooks on, an Idempotency-Key
// starting "short-period" gets 3 seconds so tests can watch renewals.
func (s *Service) periodFor(sub *domain.Subscription) time.Duration {
	if s.cfg.TestHooks && strings.HasPrefix(sub.Key, "short-period") {
		return 3 * time.Second
	}
	return s.cfg.Period
}

type stepInput struct {
	SubscriptionID string `json:"subscriptionId"`
	Cycle          int    `json:"cycle"`
	Status         string `json:"status,omitempty"`
	Outcome        string `json:"outcome,omitempty"`
}

// Workflow and activity names.
const (
	CheckoutWorkflow = "checkout"
	actCharge        = "charge"
	actActivate      = "activate"
	actRefund        = "refund"
	actFinish        = "finish"
	CancelEvent      = "cancel"
)

// Register adds the checkout workflow and its activities.
func (s *Service) Register(r *workflow.Registry) error {
	return errors.Join(
		r.AddWorkflowN(CheckoutWorkflow, s.checkout),
		r.AddActivityN(actCharge, s.chargeActivity),
		r.AddActivityN(actActivate, s.activateActivity),
		r.AddActivityN(actRefund, s.refundActivity),
		r.AddActivityN(actFinish, s.finishActivity),
	)
}

func chargeKey(subID string, cycle int) string { return fmt.Sprintf("%s/%d", subID, cycle) }

// checkout is the saga: charge, activate, and on any failure after a charge
// refund it. Every activity has a retry policy for transient errors bounded
// by a total timeout, so nothing retries for ever. After activation it waits
// one period (or a cancel event) and renews with continue-as-new.
func (s *Service) checkout(ctx *workflow.WorkflowContext) (any, error) {
	var in CheckoutInput
	if err := ctx.GetInput(&in); err != nil {
		return nil, err
	}
	retry := &workflow.RetryPolicy{MaxAttempts: s.cfg.ActivityAttempts, InitialRetryInterval: 300 * time.Millisecond,
		BackoffCoefficient: 2, MaxRetryInterval: 3 * time.Second, RetryTimeout: s.cfg.ActivityRetryTimeout}
	call := func(name string, input any, out any) error {
		return ctx.CallActivity(name, workflow.WithActivityInput(input), workflow.WithActivityRetryPolicy(retry)).Await(out)
	}
	finish := func(status, outcome string) (any, error) {
		err := call(actFinish, stepInput{SubscriptionID: in.SubscriptionID, Cycle: in.Cycle, Status: status, Outcome: outcome}, nil)
		return status, err
	}
	step := stepInput{SubscriptionID: in.SubscriptionID, Cycle: in.Cycle}

	if in.Cycle == 0 {
		var res ChargeResult
		if err := call(actCharge, step, &res); err != nil {
			// the processor's answer is unknown: refund (or void) the key
			_ = call(actRefund, step, nil)
			return finish(domain.Failed, "the payment did not complete in time; any charge was refunded")
		}
		if res.Status != "succeeded" {
			return finish(domain.PaymentFailed, "the card was declined: "+res.Reason)
		}
		var sub domain.Subscription
		if err := call(actActivate, step, &sub); err != nil {
			if rerr := call(actRefund, step, nil); rerr != nil {
				return finish(domain.Failed, "activation failed and the refund did not go through: needs an operator")
			}
			return finish(domain.Failed, "activation failed; the charge was refunded")
		}
		in.Period = s.periodFor(&sub)
	}
	if in.Period <= 0 {
		in.Period = s.cfg.Period
	}

	// One billing period, unless the listener cancels first.
	if err := ctx.WaitForExternalEvent(CancelEvent, in.Period).Await(nil); err == nil {
		var sub domain.Subscription
		if err := call(actActivate, stepInput{SubscriptionID: in.SubscriptionID, Cycle: -1}, &sub); err == nil && sub.PeriodEnd != nil {
			if rest := sub.PeriodEnd.Sub(ctx.CurrentTimeUTC()); rest > 0 {
				_ = ctx.CreateTimer(rest).Await(nil)
			}
		}
		return finish(domain.Cancelled, "cancelled by the listener; ended at the end of the period")
	}

	// Renew: failed renewals are tried again on a schedule, then the subscription expires.
	next := stepInput{SubscriptionID: in.SubscriptionID, Cycle: in.Cycle + 1}
	for attempt := 1; attempt <= s.cfg.RenewalAttempts; attempt++ {
		var res ChargeResult
		err := call(actCharge, next, &res)
		if err == nil && res.Status == "succeeded" {
			if err := call(actActivate, next, nil); err != nil {
				_ = call(actRefund, next, nil)
				return finish(domain.Failed, "renewal activation failed; the renewal charge was refunded")
			}
			ctx.ContinueAsNew(CheckoutInput{SubscriptionID: in.SubscriptionID, Cycle: in.Cycle + 1, Period: in.Period})
			return nil, nil
		}
		if err != nil {
			_ = call(actRefund, next, nil) // unknown outcome: make sure this key never charges
			next.Cycle += 1000             // and try again under a fresh key
		}
		if attempt < s.cfg.RenewalAttempts {
			_ = ctx.CreateTimer(s.cfg.RenewalRetryInterval).Await(nil)
		}
	}
	return finish(domain.Expired, "the renewal could not be charged")
}

// chargeActivity asks payments for the period's money under a key derived
// from the workflow instance and cycle: a retried activity never charges twice.
func (s *Service) chargeActivity(ctx workflow.ActivityContext) (any, error) {
	var in stepInput
	if err := ctx.GetInput(&in); err != nil {
		return nil, err
	}
	c := ctx.Context()
	sub, err := s.subs.Update(c, in.SubscriptionID, func(x *domain.Subscription) error {
		x.Step, x.UpdatedAt = "charging", s.now().UTC()
		return nil
	})
	if err != nil {
		return nil, err
	}
	plan, err := s.plans.Get(c, sub.PlanID)
	if err != nil {
		return nil, err
	}
	return s.payments.Charge(c, ChargeRequest{IdempotencyKey: chargeKey(sub.ID, in.Cycle), UserID: sub.UserID,
		PaymentMethodID: sub.PaymentMethodID, Amount: plan.Price, Currency: plan.Currency,
		Description: fmt.Sprintf("Harmonia %s, period %d", plan.Name, in.Cycle%1000+1)})
}

// activateActivity starts (cycle 0) or extends (renewal) the paid period;
// with cycle -1 it only reads the subscription.
func (s *Service) activateActivity(ctx workflow.ActivityContext) (any, error) {
	var in stepInput
	if err := ctx.GetInput(&in); err != nil {
		return nil, err
	}
	c := ctx.Context()
	if in.Cycle < 0 {
		return s.subs.Get(c, in.SubscriptionID)
	}
	topic := "subscription.activated"
	if in.Cycle > 0 {
		topic = "subscription.renewed"
	}
	return s.subs.UpdateAnnounce(c, in.SubscriptionID, func(x *domain.Subscription) (*state.Event, error) {
		if s.cfg.TestHooks && strings.HasPrefix(x.Key, "fail-activation") {
			return nil, errors.New("test hook: activation fails")
		}
		now := s.now().UTC()
		start := now
		if x.PeriodEnd != nil && in.Cycle > 0 {
			start = *x.PeriodEnd
		}
		end := start.Add(s.periodFor(x))
		x.Status, x.Step, x.Cycle, x.PeriodStart, x.PeriodEnd, x.UpdatedAt = domain.Active, "active", in.Cycle%1000, &start, &end, now
		return &state.Event{Topic: topic, Data: s.event(x)}, nil
	})
}

func (s *Service) refundActivity(ctx workflow.ActivityContext) (any, error) {
	var in stepInput
	if err := ctx.GetInput(&in); err != nil {
		return nil, err
	}
	c := ctx.Context()
	_, _ = s.subs.Update(c, in.SubscriptionID, func(x *domain.Subscription) error {
		x.Step, x.UpdatedAt = "compensating", s.now().UTC()
		return nil
	})
	return nil, s.payments.Refund(c, chargeKey(in.SubscriptionID, in.Cycle))
}

func (s *Service) finishActivity(ctx workflow.ActivityContext) (any, error) {
	var in stepInput
	if err := ctx.GetInput(&in); err != nil {
		return nil, err
	}
	c := ctx.Context()
	topic := map[string]string{domain.PaymentFailed: "subscription.payment_failed", domain.Failed: "subscription.payment_failed",
		domain.Cancelled: "subscription.cancelled", domain.Expired: "subscription.expired"}[in.Status]
	_, err := s.subs.UpdateAnnounce(c, in.SubscriptionID, func(x *domain.Subscription) (*state.Event, error) {
		x.Status, x.Outcome, x.Step, x.UpdatedAt = in.Status, in.Outcome, "done", s.now().UTC()
		if topic == "" {
			return nil, nil
		}
		return &state.Event{Topic: topic, Data: s.event(x)}, nil
	})
	return nil, err
}

// WorkflowClient adapts durabletask's client to the Workflows port.
type WorkflowClient struct{ C *workflow.Client }

// StartCheckout implements Workflows; an instance that exists already is fine.
func (w WorkflowClient) StartCheckout(ctx context.Context, id string) error {
	_, err := w.C.ScheduleWorkflow(ctx, CheckoutWorkflow, workflow.WithInstanceID(id), workflow.WithInput(CheckoutInput{SubscriptionID: id}))
	if err != nil && strings.Contains(strings.ToLower(err.Error()), "already exists") {
		return nil
	}
	return err
}

// RaiseCancel implements Workflows.
func (w WorkflowClient) RaiseCancel(ctx context.Context, id string) error {
	return w.C.RaiseEvent(ctx, id, CancelEvent)
}
