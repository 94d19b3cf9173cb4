// Package app holds payments' use cases.
package app

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/harmonia-music/harmonia/apps/payments/internal/domain"
	"github.com/harmonia-music/harmonia/internal/events"
	"github.com/harmonia-music/harmonia/internal/platform"
	"github.com/harmonia-music/harmonia/internal/platform/audit"
	"github.com/harmonia-music/harmonia/internal/platform/fault"
	"github.com/harmonia-music/harmonia/internal/platform/state"
	"github.com/harmonia-music/harmonia/internal/platform/validate"
)

// Billing asks auth whether an account may be billed.
type Billing interface {
	Verify(ctx context.Context, userID string) error
}

// Service implements payments.
type Service struct {
	// Audit records user and money actions for the audit log (nil: none).
	Audit         *audit.Recorder
	kv            state.KV
	methods       state.Repo[domain.PaymentMethod]
	charges       state.Repo[domain.Charge]
	history       state.Repo[History]
	proc          Processor
	billing       Billing
	chargeTimeout time.Duration
	now           func() time.Time
}

// History lists a user's charge keys, newest first, and their payment methods.
type History struct {
	ChargeKeys []string `json:"chargeKeys"`
	MethodIDs  []string `json:"methodIds"`
}

// New wires the service. Its events (payment.succeeded, payment.failed,
// payment.refunded) commit with the charge through the transactional outbox.
func New(kv state.KV, proc Processor, billing Billing, chargeTimeout time.Duration, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{kv: kv, proc: proc, billing: billing, chargeTimeout: chargeTimeout, now: now,
		methods: state.Repo[domain.PaymentMethod]{KV: kv, Prefix: "method|", NotFound: domain.ErrMethodNotFound},
		charges: state.Repo[domain.Charge]{KV: kv, Prefix: "charge|", NotFound: domain.ErrChargeNotFound},
		history: state.Repo[History]{KV: kv, Prefix: "history|"}}
}

// inHistory changes the user's history within tx (created on first use).
func (s *Service) inHistory(ctx context.Context, tx *state.Tx, userID string, fn func(h *History)) error {
	h, err := s.history.ReadOrNew(ctx, tx, userID)
	if err != nil {
		return err
	}
	fn(h)
	return s.history.Write(tx, userID, h)
}

// AddMethod tokenises a card; the number and CVC go no further than here.
func (s *Service) AddMethod(ctx context.Context, userID string, in domain.CardInput) (*domain.PaymentMethod, error) {
	num, err := in.Validate(s.now())
	if err != nil {
		return nil, err
	}
	tok, err := s.proc.Tokenize(ctx, num, in.ExpMonth, in.ExpYear)
	if err != nil {
		return nil, fault.Wrap(fault.KindUnavailable, "processor-unavailable", "the card processor did not answer; try again", err)
	}
	m := &domain.PaymentMethod{ID: uuid.Must(uuid.NewV7()).String(), UserID: userID, Token: tok, Brand: domain.Brand(num),
		Last4: num[len(num)-4:], ExpMonth: in.ExpMonth, ExpYear: in.ExpYear, HolderName: in.HolderName, CreatedAt: s.now().UTC()}
	err = state.Transact(ctx, s.kv, func(tx *state.Tx) error {
		if err := s.inHistory(ctx, tx, userID, func(h *History) { h.MethodIDs = append(h.MethodIDs, m.ID) }); err != nil {
			return err
		}
		return s.methods.Insert(tx, m.ID, m)
	})
	if err != nil {
		return nil, err
	}
	s.Audit.Record(ctx, audit.Record{Actor: userID, Action: "payment.method.added", Subject: audit.Subject{Type: "payment-method", ID: m.ID},
		Details: map[string]string{"brand": m.Brand}})
	return m, nil
}

// Methods lists a user's payment methods.
func (s *Service) Methods(ctx context.Context, userID string) ([]domain.MethodView, error) {
	h, err := s.history.Get(ctx, userID)
	if errors.Is(err, state.ErrNotFound) {
		return []domain.MethodView{}, nil
	}
	if err != nil {
		return nil, err
	}
	ms, err := s.methods.GetMany(ctx, h.MethodIDs)
	if err != nil {
		return nil, err
	}
	out := []domain.MethodView{}
	for _, m := range ms {
		out = append(out, m.View())
	}
	return out, nil
}

// method returns a user's own payment method (404 for anyone else's).
func (s *Service) method(ctx context.Context, userID, id string) (*domain.PaymentMethod, error) {
	return s.methods.GetOwned(ctx, id, userID, func(m *domain.PaymentMethod) string { return m.UserID })
}

// DeleteMethod removes a payment method.
func (s *Service) DeleteMethod(ctx context.Context, userID, id string) error {
	if _, err := s.method(ctx, userID, id); err != nil {
		return err
	}
	err := state.Transact(ctx, s.kv, func(tx *state.Tx) error {
		s.methods.Remove(tx, id)
		return s.inHistory(ctx, tx, userID, func(h *History) {
			h.MethodIDs = slices.DeleteFunc(h.MethodIDs, func(x string) bool { return x == id })
		})
	})
	if err == nil {
		s.Audit.Record(ctx, audit.Record{Actor: userID, Action: "payment.method.removed", Subject: audit.Subject{Type: "payment-method", ID: id}})
	}
	return err
}

// ChargeInput is a charge request from subscriptions.
type ChargeInput struct {
	IdempotencyKey  string `json:"idempotencyKey"`
	UserID          string `json:"userId"`
	PaymentMethodID string `json:"paymentMethodId"`
	Amount          int64  `json:"amount"`
	Currency        string `json:"currency"`
	Description     string `json:"description"`
	PlanID          string `json:"planId"`
	SubscriptionID  string `json:"subscriptionId"`
}

// Charge takes money once per idempotency key: the same key returns the
// first result and never charges again. A transient failure (processor
// error or timeout) answers 503 and leaves the key free to try again.
func (s *Service) Charge(ctx context.Context, in ChargeInput) (*domain.Charge, error) {
	var v fault.Validation
	v.Check(in.IdempotencyKey != "" && len(in.IdempotencyKey) <= 200, "idempotencyKey", "is required (at most 200 characters)")
	v.Check(validate.ID(in.UserID) == "", "userId", "must be an id")
	v.Check(in.Amount > 0, "amount", "must be more than 0 (minor units)")
	v.Check(len(in.Currency) == 3, "currency", "must be an ISO 4217 code such as EUR")
	v.Check(in.SubscriptionID == "" || validate.ID(in.SubscriptionID) == "", "subscriptionId", "must be an id")
	v.Check(len(in.PlanID) <= 64, "planId", "must be at most 64 characters")
	if err := v.Err(); err != nil {
		return nil, err
	}
	existing, err := s.charges.Get(ctx, in.IdempotencyKey)
	switch {
	case err == nil && existing.Final():
		return existing, nil
	case err == nil && existing.UserID != in.UserID:
		return nil, fault.Invalid("idempotencyKey", "belongs to another charge")
	case err != nil && !errors.Is(err, domain.ErrChargeNotFound):
		return nil, err
	}
	pm, err := s.method(ctx, in.UserID, in.PaymentMethodID)
	if err != nil {
		if errors.Is(err, domain.ErrMethodNotFound) {
			return nil, fault.Invalid("paymentMethodId", "no such payment method for this user")
		}
		return nil, err
	}
	if err := s.billing.Verify(ctx, in.UserID); err != nil {
		return nil, err
	}
	now := s.now().UTC()
	// Claim the key: insert it, or move a failed attempt to processing. A
	// concurrent attempt with the same key loses the race and gets 409.
	if existing == nil {
		c := &domain.Charge{ID: uuid.Must(uuid.NewV7()).String(), Key: in.IdempotencyKey, UserID: in.UserID, PaymentMethodID: pm.ID,
			Amount: in.Amount, Currency: in.Currency, Description: in.Description, PlanID: in.PlanID, SubscriptionID: in.SubscriptionID,
			Status: domain.Processing, CreatedAt: now, UpdatedAt: now}
		err := state.Transact(ctx, s.kv, func(tx *state.Tx) error {
			if _, err := s.charges.Read(ctx, tx, in.IdempotencyKey); err == nil {
				return domain.ErrInProgress // a concurrent attempt claimed it first
			} else if !errors.Is(err, domain.ErrChargeNotFound) {
				return err
			}
			if err := s.charges.Write(tx, in.IdempotencyKey, c); err != nil {
				return err
			}
			return s.inHistory(ctx, tx, in.UserID, func(h *History) { h.ChargeKeys = append([]string{in.IdempotencyKey}, h.ChargeKeys...) })
		})
		if err != nil {
			return nil, err
		}
	}
	claimed, err := s.charges.Update(ctx, in.IdempotencyKey, func(c *domain.Charge) error {
		if c.Final() {
			return errAlreadyFinal
		}
		c.Attempts++
		c.Status, c.UpdatedAt = domain.Processing, now
		return nil
	})
	if errors.Is(err, errAlreadyFinal) {
		return s.charges.Get(ctx, in.IdempotencyKey)
	}
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, s.chargeTimeout)
	res, perr := s.proc.Charge(pctx, pm.Token, claimed.Amount, claimed.Currency, claimed.Key)
	cancel()
	final, err := s.charges.UpdateAnnounce(context.WithoutCancel(ctx), in.IdempotencyKey, func(c *domain.Charge) (*state.Event, error) {
		now := s.now().UTC()
		if c.Status == domain.Voided { // compensation voided the key while the processor worked
			if perr != nil || !res.Approved {
				return nil, state.Unchanged
			}
			// and it approved after all: claim the give-back before anything else
			c.Status, c.ProcessorRef, c.ApprovedAfterVoid, c.UpdatedAt = domain.Refunding, res.Ref, true, now
			c.RefundAttempts++
			return nil, nil
		}
		c.UpdatedAt = now
		switch {
		case perr != nil:
			c.Status, c.Reason = domain.Failed, "processor did not answer in time"
			return nil, nil
		case res.Approved:
			c.Status, c.ProcessorRef, c.Reason = domain.Succeeded, res.Ref, ""
			return state.Announce(events.PaymentSucceeded{Charge: chargeFacts(c)}), nil
		default:
			c.Status, c.Reason = domain.Declined, res.Decline
			return state.Announce(events.PaymentFailed{Charge: chargeFacts(c)}), nil
		}
	})
	if err != nil {
		return nil, err
	}
	s.recordCharge(ctx, final)
	if final.Status == domain.Refunding && final.ApprovedAfterVoid {
		given, err := s.giveBack(context.WithoutCancel(ctx), final)
		if err != nil { // recorded as refund_failed; the next refund call tries again
			return s.charges.Get(context.WithoutCancel(ctx), in.IdempotencyKey)
		}
		return given, nil
	}
	if final.Status == domain.Failed {
		return nil, domain.ErrProcessor
	}
	return final, nil
}

var errAlreadyFinal = errors.New("already final")

// recordCharge records the outcome of a charge attempt for the audit log:
// the account charged is the actor (a checkout or a renewal on its behalf).
func (s *Service) recordCharge(ctx context.Context, c *domain.Charge) {
	outcome := audit.Success
	switch c.Status {
	case domain.Succeeded:
	case domain.Declined:
		outcome = audit.Denied
	case domain.Failed:
		outcome = audit.Failure
	default:
		return // voided meanwhile: the refund records it
	}
	s.Audit.Record(ctx, audit.Record{Actor: c.UserID, Action: "payment.charged", Outcome: outcome, Subject: audit.Subject{Type: "payment", ID: c.ID},
		Details: map[string]string{"amount": strconv.FormatInt(c.Amount, 10), "currency": c.Currency, "reason": c.Reason, "subscriptionId": c.SubscriptionID}})
}

func chargeFacts(c *domain.Charge) events.Charge {
	return events.Charge{ChargeID: c.ID, IdempotencyKey: c.Key, UserID: c.UserID, Amount: c.Amount,
		Currency: c.Currency, PlanID: c.PlanID, SubscriptionID: c.SubscriptionID, Status: c.Status, Reason: c.Reason, At: c.UpdatedAt}
}

// RefundLease is how long a claimed refund belongs to the call that claimed
// it. A claim older than that was left by a crash between the processor and
// the state write, and the next call takes it over: the processor's refund
// key makes its second request give nothing back twice.
const RefundLease = 15 * time.Second

// Refund returns the money of the charge made under key, if one was made,
// and voids the key otherwise, so a late or repeated attempt can never charge
// under it. The charge moves to refunding under its ETag before the processor
// is called, so two refunds at once call it once (the other gets 409 and
// tries again); a refund the processor refuses is recorded as refund_failed
// and answered 503. Refunding a refunded charge is a no-op.
func (s *Service) Refund(ctx context.Context, key string) (*domain.Charge, error) {
	if key == "" {
		return nil, fault.Invalid("idempotencyKey", "is required")
	}
	_, err := s.charges.Get(ctx, key)
	if errors.Is(err, domain.ErrChargeNotFound) {
		now := s.now().UTC()
		c := &domain.Charge{ID: uuid.Must(uuid.NewV7()).String(), Key: key, Status: domain.Voided, CreatedAt: now, UpdatedAt: now,
			Reason: "voided before any charge"}
		if err := s.charges.Create(ctx, key, c); err == nil {
			return c, nil
		} else if !errors.Is(err, state.ErrConflict) {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	claimed, err := s.charges.Update(ctx, key, func(c *domain.Charge) error {
		now := s.now().UTC()
		switch c.Status {
		case domain.Refunded, domain.Voided, domain.Declined:
			return state.Unchanged
		case domain.Processing, domain.Failed: // no money taken: the key never charges now
			c.Status, c.Reason, c.UpdatedAt = domain.Voided, "voided by compensation", now
			return nil
		case domain.Refunding:
			if now.Sub(c.UpdatedAt) < RefundLease {
				return domain.ErrRefundBusy
			}
		}
		c.Status, c.UpdatedAt = domain.Refunding, now // succeeded, refund_failed, or a stale claim
		c.RefundAttempts++
		return nil
	})
	if err != nil || claimed.Status != domain.Refunding {
		return claimed, err
	}
	return s.giveBack(ctx, claimed)
}

// giveBack asks the processor to return a claimed (refunding) charge's money
// under the charge's refund key and records what it answered.
func (s *Service) giveBack(ctx context.Context, c *domain.Charge) (*domain.Charge, error) {
	perr := s.proc.Refund(ctx, c.ProcessorRef, c.Amount, domain.RefundKey(c.Key))
	final, err := s.charges.UpdateAnnounce(context.WithoutCancel(ctx), c.Key, func(x *domain.Charge) (*state.Event, error) {
		if x.Status != domain.Refunding { // a take-over finished it first
			return nil, state.Unchanged
		}
		now := s.now().UTC()
		x.UpdatedAt = now
		switch {
		case perr != nil:
			x.Status, x.Reason = domain.RefundFailed, "the processor did not refund: "+perr.Error()
			return nil, nil
		case x.ApprovedAfterVoid: // it was never the listener's charge: no refund event
			x.Status, x.Reason, x.RefundedAt = domain.Voided, "approved after the key was voided; given back", &now
			return nil, nil
		default:
			x.Status, x.RefundedAt = domain.Refunded, &now
			return state.Announce(events.PaymentRefunded{Charge: chargeFacts(x)}), nil
		}
	})
	if err != nil {
		return nil, err
	}
	if final.Status == domain.Refunded || final.Status == domain.RefundFailed {
		outcome := audit.Success
		if final.Status == domain.RefundFailed {
			outcome = audit.Failure
		}
		s.Audit.Record(ctx, audit.Record{Actor: audit.System, Action: "payment.refunded", Outcome: outcome, Subject: audit.Subject{Type: "payment", ID: final.ID},
			Details: map[string]string{"amount": strconv.FormatInt(final.Amount, 10), "currency": final.Currency, "subscriptionId": final.SubscriptionID}})
	}
	if perr != nil {
		platform.Logger(ctx).Error("refund failed; recorded on the charge", slog.String("key", c.Key), slog.String("error", perr.Error()))
		return nil, fault.Wrap(fault.KindUnavailable, "refund-failed", "the refund did not go through; it is recorded on the charge and will be tried again", perr)
	}
	return final, nil
}

// Payments lists a user's charges and refunds, newest first.
func (s *Service) Payments(ctx context.Context, userID string) ([]*domain.Charge, error) {
	h, err := s.history.Get(ctx, userID)
	if errors.Is(err, state.ErrNotFound) {
		return []*domain.Charge{}, nil
	}
	if err != nil {
		return nil, err
	}
	cs, err := s.charges.GetMany(ctx, h.ChargeKeys)
	if cs == nil {
		cs = []*domain.Charge{}
	}
	return cs, err
}

// ForgetUser erases a deleted account (user.deleted): its payment methods
// go (the processor's token, brand, last four digits, holder name), and its
// charges stay for the accounts, pseudonymised: amounts, currency, status
// and the idempotency key are kept, and the user and payment method are
// replaced by one pseudonym no longer linked to anyone. Running it again
// finds nothing left to do.
func (s *Service) ForgetUser(ctx context.Context, userID string) error {
	pseudonym := "erased-" + uuid.NewString()
	return state.Transact(ctx, s.kv, func(tx *state.Tx) error {
		h, err := s.history.Read(ctx, tx, userID)
		if errors.Is(err, state.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, id := range h.MethodIDs {
			s.methods.Remove(tx, id)
		}
		for _, key := range h.ChargeKeys {
			c, err := s.charges.Read(ctx, tx, key)
			if errors.Is(err, domain.ErrChargeNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if c.UserID != userID {
				continue
			}
			c.UserID, c.PaymentMethodID = pseudonym, ""
			if err := s.charges.Write(tx, key, c); err != nil {
				return err
			}
		}
		s.history.Remove(tx, userID)
		return nil
	})
}
