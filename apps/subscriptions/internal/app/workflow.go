package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/dapr/durabletask-go/workflow"

	"github.com/harmonia-music/harmonia/apps/subscriptions/internal/domain"
	"github.com/harmonia-music/harmonia/internal/events"
	"github.com/harmonia-music/harmonia/internal/platform"
	"github.com/harmonia-music/harmonia/internal/platform/audit"
	"github.com/harmonia-music/harmonia/internal/platform/state"
)

// Workflow, activity, event and patch names.
const (
	CheckoutWorkflow = "checkout"
	actCharge        = "charge"
	actActivate      = "activate"
	actRefund        = "refund"
	actFinish        = "finish"
	actCancelled     = "cancelled" // version 2: records a cancel the workflow received
	CancelEvent      = "cancel"
	// patchBilling marks version 2 of the checkout workflow: a key per
	// renewal attempt, a cancel that always stops renewals, compensation that
	// is retried until it holds. Instances started before it replay version 1
	// until their next continue-as-new.
	patchBilling = "billing-v2"
)

// Cycle numbers a billing period: 0 is the first purchase, n the n-th renewal.
type Cycle int

// ChargeKey names one attempt to take one period's money. Payments charges
// at most once per key, so a retried activity never charges twice; each
// renewal attempt has a key of its own, so a retry after a decline asks the
// processor again.
type ChargeKey struct {
	SubscriptionID string `json:"subscriptionId"`
	Cycle          Cycle  `json:"cycle"`
	Attempt        int    `json:"attempt,omitempty"` // 0: the first purchase; 1, 2, …: renewal attempts
}

// String is the idempotency key payments sees.
func (k ChargeKey) String() string {
	if k.Attempt == 0 {
		return fmt.Sprintf("%s/%d", k.SubscriptionID, k.Cycle)
	}
	return fmt.Sprintf("%s/%d/%d", k.SubscriptionID, k.Cycle, k.Attempt)
}

// CheckoutInput is the checkout workflow's input; the instance id is the
// subscription id.
type CheckoutInput struct {
	SubscriptionID string        `json:"subscriptionId"`
	Cycle          Cycle         `json:"cycle"` // the last cycle paid for (0 before the first purchase is made)
	Period         time.Duration `json:"period,omitempty"`
}

// ChargeResult statuses the saga acts on; payments may answer others
// (declined, voided), which all mean "not paid".
const (
	ChargeSucceeded = "succeeded"
	// ChargeCancelled: the charge activity refused to ask for money because
	// the listener had cancelled.
	ChargeCancelled = "cancelled"
)

// step is an activity's input.
type step struct {
	SubscriptionID string     `json:"subscriptionId"`
	Cycle          Cycle      `json:"cycle"`
	Key            *ChargeKey `json:"key,omitempty"` // the charge this step is about (version 2)
	Status         string     `json:"status,omitempty"`
	Outcome        string     `json:"outcome,omitempty"`
}

// Version 1 wrote no key and packed two facts into the cycle: legacyRead
// asked the activate activity for a plain read, and each renewal whose
// outcome was unknown added legacyRekey to get a fresh key.
const (
	legacyRead  Cycle = -1
	legacyRekey Cycle = 1000
)

// upgrade turns a version-1 input into a version-2 one; it reports a
// version-1 plain read.
func (in *step) upgrade() (readOnly bool) {
	if in.Key != nil {
		return false
	}
	if in.Cycle == legacyRead {
		return true
	}
	in.Key = &ChargeKey{SubscriptionID: in.SubscriptionID, Cycle: in.Cycle} // "<id>/<cycle>", as version 1 wrote it
	in.Cycle %= legacyRekey
	return false
}

// periodFor is the billing period; with test hooks on, an Idempotency-Key
// starting "short-period" gets 3 seconds so tests can watch renewals.
func (s *Service) periodFor(sub *domain.Subscription) time.Duration {
	if s.cfg.TestHooks && strings.HasPrefix(sub.Key, "short-period") {
		return 3 * time.Second
	}
	return s.cfg.Period
}

// Register adds the checkout workflow and its activities.
func (s *Service) Register(r *workflow.Registry) error {
	return errors.Join(
		r.AddWorkflowN(CheckoutWorkflow, s.checkout),
		r.AddActivityN(actCharge, activity(s.charge)),
		r.AddActivityN(actActivate, activity(s.activate)),
		r.AddActivityN(actRefund, activity(s.refund)),
		r.AddActivityN(actFinish, activity(s.finish)),
		r.AddActivityN(actCancelled, activity(s.recordCancel)),
	)
}

// activity adapts a use case on a step to a workflow activity.
func activity[T any](fn func(context.Context, step) (T, error)) workflow.Activity {
	return func(ctx workflow.ActivityContext) (any, error) {
		var in step
		if err := ctx.GetInput(&in); err != nil {
			return nil, err
		}
		return fn(ctx.Context(), in)
	}
}

// saga holds what one run of the checkout workflow needs.
type saga struct {
	ctx                *workflow.WorkflowContext
	id                 string
	retry, refundRetry *workflow.RetryPolicy
}

func (s *Service) saga(ctx *workflow.WorkflowContext, id string) saga {
	return saga{ctx: ctx, id: id,
		retry: &workflow.RetryPolicy{MaxAttempts: s.cfg.ActivityAttempts, InitialRetryInterval: 300 * time.Millisecond,
			BackoffCoefficient: 2, MaxRetryInterval: 3 * time.Second, RetryTimeout: s.cfg.ActivityRetryTimeout},
		// money owed back is tried for much longer, on durable timers
		refundRetry: &workflow.RetryPolicy{MaxAttempts: 1 << 20, InitialRetryInterval: time.Second,
			BackoffCoefficient: 2, MaxRetryInterval: 5 * time.Minute, RetryTimeout: s.cfg.RefundRetryTimeout},
	}
}

func (w saga) call(name string, policy *workflow.RetryPolicy, in step, out any) error {
	in.SubscriptionID = w.id
	return w.ctx.CallActivity(name, workflow.WithActivityInput(in), workflow.WithActivityRetryPolicy(policy)).Await(out)
}

func (w saga) charge(k ChargeKey, res *ChargeResult) error {
	return w.call(actCharge, w.retry, step{Cycle: k.Cycle, Key: &k}, res)
}

// compensate refunds the charge made under k, or voids k if none was.
func (w saga) compensate(k ChargeKey) error {
	return w.call(actRefund, w.refundRetry, step{Cycle: k.Cycle, Key: &k}, nil)
}

func (w saga) finish(status, outcome string) (any, error) {
	return status, w.call(actFinish, w.retry, step{Status: status, Outcome: outcome}, nil)
}

// failAfterCharge gives a charge back after a later step failed, and ends.
func (w saga) failAfterCharge(k ChargeKey, what string) (any, error) {
	if err := w.compensate(k); err != nil {
		return w.finish(domain.Failed, what+" and the refund did not go through: needs an operator")
	}
	return w.finish(domain.Failed, what+"; the charge was refunded")
}

// cancelRaised waits up to wait for the listener's cancel; a zero wait only
// looks at what has arrived already.
func (w saga) cancelRaised(wait time.Duration) bool {
	return w.ctx.WaitForExternalEvent(CancelEvent, wait).Await(nil) == nil
}

// endCancelled records the cancel, lets the paid period run out, and ends.
func (w saga) endCancelled() (any, error) {
	var sub domain.Subscription
	if err := w.call(actCancelled, w.retry, step{}, &sub); err == nil && sub.PeriodEnd != nil {
		if rest := sub.PeriodEnd.Sub(w.ctx.CurrentTimeUTC()); rest > 0 {
			_ = w.ctx.CreateTimer(rest).Await(nil)
		}
	}
	return w.finish(domain.Cancelled, "cancelled by the listener; ended at the end of the period")
}

// checkout is the saga: charge, activate, and on any failure after a charge
// refund it. Every activity has a retry policy for transient errors bounded
// by a total timeout, so nothing retries for ever. After activation it waits
// one period (or a cancel event) and renews with continue-as-new, carrying
// any cancel that arrived meanwhile into the next period.
func (s *Service) checkout(ctx *workflow.WorkflowContext) (any, error) {
	var in CheckoutInput
	if err := ctx.GetInput(&in); err != nil {
		return nil, err
	}
	if !ctx.IsPatched(patchBilling) {
		return s.checkoutV1(ctx, in)
	}
	w := s.saga(ctx, in.SubscriptionID)

	if in.Cycle == 0 {
		key := ChargeKey{SubscriptionID: in.SubscriptionID}
		var res ChargeResult
		if err := w.charge(key, &res); err != nil {
			// the processor's answer is unknown: make sure the key never charges
			if w.compensate(key) != nil {
				return w.finish(domain.Failed, "the payment did not complete in time and voiding it failed: needs an operator")
			}
			return w.finish(domain.Failed, "the payment did not complete in time; any charge was refunded")
		}
		if res.Status != ChargeSucceeded {
			return w.finish(domain.PaymentFailed, "the card was declined: "+res.Reason)
		}
		var sub domain.Subscription
		if err := w.call(actActivate, w.retry, step{Key: &key}, &sub); err != nil {
			return w.failAfterCharge(key, "activation failed")
		}
		in.Period = s.periodFor(&sub)
	}
	if in.Period <= 0 {
		in.Period = s.cfg.Period
	}

	// One billing period, unless the listener cancels first.
	if w.cancelRaised(in.Period) {
		return w.endCancelled()
	}

	// Renew: each attempt under a key of its own; a cancel seen at any point
	// before the money is kept ends the subscription instead.
	cycle := in.Cycle + 1
	for attempt := 1; ; attempt++ {
		if w.cancelRaised(0) {
			return w.endCancelled()
		}
		key := ChargeKey{SubscriptionID: in.SubscriptionID, Cycle: cycle, Attempt: attempt}
		var res ChargeResult
		err := w.charge(key, &res)
		switch {
		case err != nil: // unknown outcome: this key must never charge; the next attempt has its own
			if w.compensate(key) != nil {
				return w.finish(domain.Failed, "a renewal's outcome was unknown and voiding it failed: needs an operator")
			}
		case res.Status == ChargeCancelled:
			return w.endCancelled()
		case res.Status == ChargeSucceeded:
			if w.cancelRaised(0) { // the listener cancelled while the money was being taken
				if w.compensate(key) != nil {
					return w.finish(domain.Failed, "cancelled during a renewal charge and its refund did not go through: needs an operator")
				}
				return w.endCancelled()
			}
			if err := w.call(actActivate, w.retry, step{Cycle: cycle, Key: &key}, nil); err != nil {
				return w.failAfterCharge(key, "renewal activation failed")
			}
			ctx.ContinueAsNew(CheckoutInput{SubscriptionID: in.SubscriptionID, Cycle: cycle, Period: in.Period},
				workflow.WithKeepUnprocessedEvents())
			return nil, nil
		}
		if attempt >= s.cfg.RenewalAttempts {
			return w.finish(domain.Expired, "the renewal could not be charged")
		}
		if w.cancelRaised(s.cfg.RenewalRetryInterval) {
			return w.endCancelled()
		}
	}
}

// checkoutV1 is the workflow as it ran before patchBilling, kept so that an
// instance started then replays the same steps; it moves to version 2 at its
// next continue-as-new. Do not change its steps.
func (s *Service) checkoutV1(ctx *workflow.WorkflowContext, in CheckoutInput) (any, error) {
	retry := s.saga(ctx, in.SubscriptionID).retry
	call := func(name string, input step, out any) error {
		return ctx.CallActivity(name, workflow.WithActivityInput(input), workflow.WithActivityRetryPolicy(retry)).Await(out)
	}
	finish := func(status, outcome string) (any, error) {
		err := call(actFinish, step{SubscriptionID: in.SubscriptionID, Cycle: in.Cycle, Status: status, Outcome: outcome}, nil)
		return status, err
	}
	cur := step{SubscriptionID: in.SubscriptionID, Cycle: in.Cycle}
	if in.Cycle == 0 {
		var res ChargeResult
		if err := call(actCharge, cur, &res); err != nil {
			_ = call(actRefund, cur, nil)
			return finish(domain.Failed, "the payment did not complete in time; any charge was refunded")
		}
		if res.Status != ChargeSucceeded {
			return finish(domain.PaymentFailed, "the card was declined: "+res.Reason)
		}
		var sub domain.Subscription
		if err := call(actActivate, cur, &sub); err != nil {
			if rerr := call(actRefund, cur, nil); rerr != nil {
				return finish(domain.Failed, "activation failed and the refund did not go through: needs an operator")
			}
			return finish(domain.Failed, "activation failed; the charge was refunded")
		}
		in.Period = s.periodFor(&sub)
	}
	if in.Period <= 0 {
		in.Period = s.cfg.Period
	}
	if err := ctx.WaitForExternalEvent(CancelEvent, in.Period).Await(nil); err == nil {
		var sub domain.Subscription
		if err := call(actActivate, step{SubscriptionID: in.SubscriptionID, Cycle: legacyRead}, &sub); err == nil && sub.PeriodEnd != nil {
			if rest := sub.PeriodEnd.Sub(ctx.CurrentTimeUTC()); rest > 0 {
				_ = ctx.CreateTimer(rest).Await(nil)
			}
		}
		return finish(domain.Cancelled, "cancelled by the listener; ended at the end of the period")
	}
	next := step{SubscriptionID: in.SubscriptionID, Cycle: in.Cycle + 1}
	for attempt := 1; attempt <= s.cfg.RenewalAttempts; attempt++ {
		var res ChargeResult
		err := call(actCharge, next, &res)
		if err == nil && res.Status == ChargeSucceeded {
			if err := call(actActivate, next, nil); err != nil {
				_ = call(actRefund, next, nil)
				return finish(domain.Failed, "renewal activation failed; the renewal charge was refunded")
			}
			ctx.ContinueAsNew(CheckoutInput{SubscriptionID: in.SubscriptionID, Cycle: in.Cycle + 1, Period: in.Period},
				workflow.WithKeepUnprocessedEvents())
			return nil, nil
		}
		if err != nil {
			_ = call(actRefund, next, nil)
			next.Cycle += legacyRekey
		}
		if attempt < s.cfg.RenewalAttempts {
			_ = ctx.CreateTimer(s.cfg.RenewalRetryInterval).Await(nil)
		}
	}
	return finish(domain.Expired, "the renewal could not be charged")
}

// errCancelled stops a renewal charge before it reaches payments.
var errCancelled = errors.New("the listener cancelled")

// charge asks payments for a period's money under the step's key. A renewal
// of a subscription the listener has cancelled is refused here, before any
// processor call, whatever the workflow has or has not heard.
func (s *Service) charge(ctx context.Context, in step) (ChargeResult, error) {
	if in.upgrade() {
		return ChargeResult{}, errors.New("charge: a read-only step")
	}
	sub, err := s.subs.Update(ctx, in.SubscriptionID, func(x *domain.Subscription) error {
		if in.Cycle > 0 && (x.CancelAtPeriodEnd || !x.Open()) {
			return errCancelled
		}
		x.Step, x.UpdatedAt = "charging", s.now().UTC()
		return nil
	})
	if errors.Is(err, errCancelled) {
		return ChargeResult{Status: ChargeCancelled, Reason: errCancelled.Error()}, nil
	}
	if err != nil {
		return ChargeResult{}, err
	}
	plan, err := s.plans.Get(ctx, sub.PlanID)
	if err != nil {
		return ChargeResult{}, err
	}
	return s.payments.Charge(ctx, ChargeRequest{IdempotencyKey: in.Key.String(), UserID: sub.UserID,
		PaymentMethodID: sub.PaymentMethodID, Amount: plan.Price, Currency: plan.Currency,
		Description: fmt.Sprintf("Harmonia %s, period %d", plan.Name, in.Cycle+1), PlanID: plan.ID, SubscriptionID: sub.ID})
}

// activate starts (cycle 0) or extends (a renewal) the paid period. It is
// idempotent: a cycle already active is not extended again, nor announced
// twice (activities run at least once).
func (s *Service) activate(ctx context.Context, in step) (*domain.Subscription, error) {
	if in.upgrade() {
		return s.subs.Get(ctx, in.SubscriptionID)
	}
	changed := false
	sub, err := s.subs.UpdateAnnounce(ctx, in.SubscriptionID, func(x *domain.Subscription) (*state.Event, error) {
		changed = false
		if x.Activated(int(in.Cycle)) {
			return nil, state.Unchanged
		}
		changed = true
		if s.cfg.TestHooks && strings.HasPrefix(x.Key, "fail-activation") {
			return nil, errors.New("test hook: activation fails")
		}
		now := s.now().UTC()
		start := now
		if x.PeriodEnd != nil && in.Cycle > 0 {
			start = *x.PeriodEnd
		}
		end := start.Add(s.periodFor(x))
		x.Status, x.Step, x.Cycle, x.PeriodStart, x.PeriodEnd, x.UpdatedAt = domain.Active, "active", int(in.Cycle), &start, &end, now
		if in.Cycle > 0 {
			return state.Announce(events.SubscriptionRenewed{Subscription: s.facts(x)}), nil
		}
		return state.Announce(events.SubscriptionActivated{Subscription: s.facts(x)}), nil
	})
	if err == nil && changed {
		rec := audit.Record{Actor: sub.UserID, Action: "subscription.activated", Subject: audit.Subject{Type: "subscription", ID: sub.ID},
			Details: map[string]string{"planId": sub.PlanID, "validUntil": sub.PeriodEnd.Format(time.RFC3339)}}
		if in.Cycle > 0 {
			rec.Actor, rec.Action = audit.System, "subscription.renewed"
			rec.Details["cycle"] = strconv.Itoa(int(in.Cycle))
		}
		s.Audit.Record(ctx, rec)
	}
	return sub, err
}

// refund gives back the money of the step's charge, or voids its key.
func (s *Service) refund(ctx context.Context, in step) (any, error) {
	if in.upgrade() {
		return nil, errors.New("refund: a read-only step")
	}
	if _, err := s.subs.Update(ctx, in.SubscriptionID, func(x *domain.Subscription) error {
		x.Step, x.UpdatedAt = "compensating", s.now().UTC()
		return nil
	}); err != nil {
		platform.Logger(ctx).Warn("could not mark the subscription as compensating", slog.String("subscriptionId", in.SubscriptionID), slog.String("error", err.Error()))
	}
	return nil, s.payments.Refund(ctx, in.Key.String())
}

// finish ends the subscription in its final state, once.
func (s *Service) finish(ctx context.Context, in step) (any, error) {
	changed := false
	sub, err := s.subs.UpdateAnnounce(ctx, in.SubscriptionID, func(x *domain.Subscription) (*state.Event, error) {
		changed = false
		if x.Status == in.Status && x.Step == "done" {
			return nil, state.Unchanged
		}
		changed = true
		x.Status, x.Outcome, x.Step, x.UpdatedAt = in.Status, in.Outcome, "done", s.now().UTC()
		switch f := s.facts(x); in.Status {
		case domain.PaymentFailed, domain.Failed:
			return state.Announce(events.SubscriptionPaymentFailed{Subscription: f}), nil
		case domain.Cancelled:
			return state.Announce(events.SubscriptionCancelled{Subscription: f}), nil
		case domain.Expired:
			return state.Announce(events.SubscriptionExpired{Subscription: f}), nil
		}
		return nil, nil
	})
	if err == nil && changed {
		rec := audit.Record{Actor: audit.System, Subject: audit.Subject{Type: "subscription", ID: sub.ID}, Details: map[string]string{"planId": sub.PlanID}}
		switch in.Status {
		case domain.PaymentFailed, domain.Failed:
			rec.Action, rec.Outcome = "subscription.payment_failed", audit.Failure
			rec.Details["reason"] = string(in.Outcome)
		case domain.Cancelled:
			rec.Action = "subscription.cancelled"
		case domain.Expired:
			rec.Action = "subscription.expired"
		}
		if rec.Action != "" {
			s.Audit.Record(ctx, rec)
		}
	}
	return nil, err
}

// recordCancel marks the subscription as ending at its period's end. The
// cancel event is raised before the HTTP request records it, so a crash in
// between still cancels: the workflow records it here.
func (s *Service) recordCancel(ctx context.Context, in step) (*domain.Subscription, error) {
	changed := false
	sub, err := s.subs.Update(ctx, in.SubscriptionID, func(x *domain.Subscription) error {
		changed = false
		if x.CancelAtPeriodEnd {
			return state.Unchanged
		}
		changed = true
		x.CancelAtPeriodEnd, x.UpdatedAt = true, s.now().UTC()
		return nil
	})
	if err == nil && changed {
		d := map[string]string{"planId": sub.PlanID}
		if sub.PeriodEnd != nil {
			d["endsAt"] = sub.PeriodEnd.Format(time.RFC3339)
		}
		s.Audit.Record(ctx, audit.Record{Actor: sub.UserID, Action: "subscription.cancel_requested",
			Subject: audit.Subject{Type: "subscription", ID: sub.ID}, Details: d})
	}
	return sub, err
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
