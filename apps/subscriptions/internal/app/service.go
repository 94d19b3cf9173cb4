// Package app holds subscriptions' use cases and the checkout workflow.
package app

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/harmonia-music/harmonia/apps/subscriptions/internal/domain"
	"github.com/harmonia-music/harmonia/internal/events"
	"github.com/harmonia-music/harmonia/internal/platform"
	"github.com/harmonia-music/harmonia/internal/platform/audit"
	"github.com/harmonia-music/harmonia/internal/platform/fault"
	"github.com/harmonia-music/harmonia/internal/platform/state"
	"github.com/harmonia-music/harmonia/internal/platform/validate"
)

// Payments is the payments service, as the saga needs it.
type Payments interface {
	Charge(ctx context.Context, in ChargeRequest) (ChargeResult, error)
	Refund(ctx context.Context, key string) error
}

// ChargeRequest asks payments for money under an idempotency key.
type ChargeRequest struct {
	IdempotencyKey  string `json:"idempotencyKey"`
	UserID          string `json:"userId"`
	PaymentMethodID string `json:"paymentMethodId"`
	Amount          int64  `json:"amount"`
	Currency        string `json:"currency"`
	Description     string `json:"description"`
	PlanID          string `json:"planId"`         // what it pays for (analytics' revenue by plan)
	SubscriptionID  string `json:"subscriptionId"` // and for which subscription
}

// ChargeResult is payments' final answer (transient failures are errors).
type ChargeResult struct {
	Status string `json:"status"` // succeeded, declined, voided
	Reason string `json:"reason,omitempty"`
}

// Accounts finds the account of a sign-in address (auth): "" when none.
type Accounts interface {
	AccountID(ctx context.Context, email string) (string, error)
}

// Publisher publishes events that need no outbox (member.invited).
type Publisher interface {
	Publish(ctx context.Context, e events.Event) error
}

// Workflows starts and signals the checkout workflow.
type Workflows interface {
	StartCheckout(ctx context.Context, subscriptionID string) error
	RaiseCancel(ctx context.Context, subscriptionID string) error
}

// Config tunes the saga.
type Config struct {
	Period               time.Duration // a billing period (tests use seconds)
	RenewalRetryInterval time.Duration // between failed renewal attempts
	RenewalAttempts      int
	ActivityAttempts     int           // retries of one activity for transient errors
	ActivityRetryTimeout time.Duration // bounds all retries of one activity
	RefundRetryTimeout   time.Duration // bounds the retries of a refund the saga owes (durable timers)
	TestHooks            bool          // Idempotency-Key "fail-activation…" makes activation fail
}

// Service implements subscriptions.
type Service struct {
	// Audit records user and money actions for the audit log (nil: none).
	Audit   *audit.Recorder
	cfg     Config
	kv      state.KV
	plans   state.Repo[domain.Plan]
	subs    state.Repo[domain.Subscription]
	idem    state.Repo[ref]
	mine    state.Repo[list]
	members state.Repo[ref]
	// invitations by id, and each invitee's list of them
	invitations state.Repo[domain.Invitation]
	invited     state.Repo[list]
	sent        state.Repo[list] // by subscription: the invitations its owner sent
	payments    Payments
	accounts    Accounts
	pub         Publisher
	wf          Workflows
	now         func() time.Time
}

type ref struct {
	SubscriptionID string `json:"subscriptionId"`
}

type list struct {
	IDs []string `json:"ids"`
}

// New wires the service; wf may be set later (SetWorkflows) because the
// workflow worker needs the service's activities.
func New(cfg Config, kv state.KV, payments Payments, accounts Accounts, pub Publisher, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{cfg: cfg, kv: kv, payments: payments, accounts: accounts, pub: pub, now: now,
		invitations: state.Repo[domain.Invitation]{KV: kv, Prefix: "invite|", NotFound: domain.ErrInvitationNotFound},
		invited:     state.Repo[list]{KV: kv, Prefix: "invited|"},
		sent:        state.Repo[list]{KV: kv, Prefix: "sent|"},
		plans:       state.Repo[domain.Plan]{KV: kv, Prefix: "plan|", NotFound: domain.ErrPlanNotFound},
		subs:        state.Repo[domain.Subscription]{KV: kv, Prefix: "sub|", NotFound: domain.ErrNotFound},
		idem:        state.Repo[ref]{KV: kv, Prefix: "idem|"},
		mine:        state.Repo[list]{KV: kv, Prefix: "mine|"},
		members:     state.Repo[ref]{KV: kv, Prefix: "member|"}}
}

// SetWorkflows connects the workflow client.
func (s *Service) SetWorkflows(wf Workflows) { s.wf = wf }

// facts are what every subscription.* event carries; the events go out
// through the transactional outbox with the change they announce.
func (s *Service) facts(sub *domain.Subscription) events.Subscription {
	return events.Subscription{SubscriptionID: sub.ID, UserID: sub.UserID, PlanID: sub.PlanID, Status: sub.Status,
		Cycle: sub.Cycle, Outcome: sub.Outcome, PeriodEnd: sub.PeriodEnd, At: s.now().UTC()}
}

// SeedPlans stores the default plans unless present (first start).
func (s *Service) SeedPlans(ctx context.Context) error {
	for _, p := range domain.DefaultPlans {
		p := p
		if err := s.plans.Create(ctx, p.ID, &p); err != nil && !errors.Is(err, state.ErrConflict) {
			return err
		}
	}
	return nil
}

// Plans lists the plans.
func (s *Service) Plans(ctx context.Context) ([]*domain.Plan, error) {
	ids := make([]string, len(domain.DefaultPlans))
	for i, p := range domain.DefaultPlans {
		ids[i] = p.ID
	}
	return s.plans.GetMany(ctx, ids)
}

// Subscribe records a pending subscription and starts its checkout. The same
// Idempotency-Key from the same user returns the first subscription and
// starts nothing new.
func (s *Service) Subscribe(ctx context.Context, userID, key, planID, paymentMethodID string) (*domain.Subscription, error) {
	key = strings.TrimSpace(key)
	if key == "" || len(key) > 200 {
		return nil, domain.ErrNoKey
	}
	if prev, err := s.idem.Get(ctx, idemID(userID, key)); err == nil {
		return s.resume(ctx, prev.SubscriptionID)
	}
	var v fault.Validation
	if planID == "" {
		v.Add("planId", "is required")
	}
	if m := validate.ID(paymentMethodID); m != "" {
		v.Add("paymentMethodId", "%s", m)
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	plan, err := s.plans.Get(ctx, planID)
	if err != nil {
		return nil, err
	}
	if plan.Price == 0 {
		return nil, domain.ErrFreePlan
	}
	now := s.now().UTC()
	sub := &domain.Subscription{ID: uuid.Must(uuid.NewV7()).String(), UserID: userID, PlanID: plan.ID, PaymentMethodID: paymentMethodID,
		Key: key, Status: domain.Pending, Step: "starting", Members: []string{}, CreatedAt: now, UpdatedAt: now}
	// One transaction: the key's record, the subscription and the user's
	// list; a conflict means the same key or another purchase raced us, and
	// the next round sees which.
	id := sub.ID
	err = state.Transact(ctx, s.kv, func(tx *state.Tx) error {
		if prev, err := s.idem.Read(ctx, tx, idemID(userID, key)); err == nil {
			id = prev.SubscriptionID
			return nil
		} else if !errors.Is(err, state.ErrNotFound) {
			return err
		}
		l, err := s.mine.ReadOrNew(ctx, tx, userID)
		if err != nil {
			return err
		}
		if len(l.IDs) > 0 {
			if cur, err := s.subs.Get(ctx, l.IDs[0]); err == nil && cur.Open() {
				if cur.Key == key { // the same key committed between our two reads
					id = cur.ID
					return nil
				}
				return domain.ErrAlreadyOpen
			}
		}
		l.IDs = append([]string{sub.ID}, l.IDs...)
		if err := s.idem.Write(tx, idemID(userID, key), &ref{SubscriptionID: sub.ID}); err != nil {
			return err
		}
		if err := s.subs.Insert(tx, sub.ID, sub); err != nil {
			return err
		}
		return s.mine.Write(tx, userID, l)
	})
	if err != nil {
		return nil, err
	}
	if id == sub.ID {
		s.Audit.Record(ctx, audit.Record{Actor: userID, Action: "subscription.created", Subject: audit.Subject{Type: "subscription", ID: sub.ID},
			Details: map[string]string{"planId": plan.ID}})
	}
	return s.resume(ctx, id)
}

// resume makes sure a pending subscription has its workflow (starting one
// that exists already is harmless) and returns it.
func (s *Service) resume(ctx context.Context, id string) (*domain.Subscription, error) {
	sub, err := s.subs.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if sub.Status == domain.Pending && sub.Step == "starting" {
		if err := s.wf.StartCheckout(ctx, id); err != nil {
			return nil, fault.Wrap(fault.KindUnavailable, "checkout-unavailable", "the checkout could not start; retry with the same Idempotency-Key", err)
		}
	}
	return sub, nil
}

// Get returns the owner's subscription (404 for anyone else).
func (s *Service) Get(ctx context.Context, userID, id string) (*domain.Subscription, error) {
	return s.subs.GetOwned(ctx, id, userID, func(x *domain.Subscription) string { return x.UserID })
}

// Current is the user's newest subscription.
func (s *Service) Current(ctx context.Context, userID string) (*domain.Subscription, error) {
	l, err := s.mine.Get(ctx, userID)
	if errors.Is(err, state.ErrNotFound) || err == nil && len(l.IDs) == 0 {
		return nil, domain.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return s.subs.Get(ctx, l.IDs[0])
}

// Cancel stops renewal: the subscription ends at the end of its period.
// The cancel event is raised first and recorded second: the event is the
// durable fact (the workflow records it too), so a crash between the two
// still cancels, and a raise that fails records nothing. The renewal charge
// also refuses once the cancel is recorded, whatever the workflow heard.
func (s *Service) Cancel(ctx context.Context, userID, id string) (*domain.Subscription, error) {
	sub, err := s.Get(ctx, userID, id)
	if err != nil {
		return nil, err
	}
	if sub.Status != domain.Active {
		return nil, domain.ErrNotActive
	}
	if err := s.wf.RaiseCancel(ctx, id); err != nil {
		return nil, fault.Wrap(fault.KindUnavailable, "cancel-unavailable", "the cancellation could not be delivered; try again", err)
	}
	return s.recordCancel(ctx, step{SubscriptionID: id})
}

// Invite asks the listener signing in with email to join the owner's family
// plan. The answer is the same whether or not such an account exists (so it
// reveals no one's address); an invitation to no account can never be
// accepted. The owner may invite while the plan has room; room is checked
// again at acceptance.
func (s *Service) Invite(ctx context.Context, ownerID, id, email string) (*domain.Invitation, error) {
	email = validate.NormalizeEmail(email)
	if m := validate.Email(email); m != "" {
		return nil, fault.Invalid("email", m)
	}
	sub, err := s.Get(ctx, ownerID, id)
	if err != nil {
		return nil, err
	}
	plan, err := s.plans.Get(ctx, sub.PlanID)
	if err != nil {
		return nil, err
	}
	if err := sub.CanInvite(*plan); err != nil {
		return nil, err
	}
	invitee, err := s.accounts.AccountID(ctx, email)
	if err != nil {
		return nil, fault.Wrap(fault.KindUnavailable, "accounts-unavailable", "the invitation could not be sent; try again", err)
	}
	if invitee == ownerID {
		return nil, domain.ErrInviteSelf
	}
	now := s.now().UTC()
	inv := &domain.Invitation{ID: uuid.Must(uuid.NewV7()).String(), SubscriptionID: sub.ID, OwnerID: ownerID, Email: email,
		InviteeID: invitee, Status: domain.InvitePending, CreatedAt: now, UpdatedAt: now}
	err = state.Transact(ctx, s.kv, func(tx *state.Tx) error {
		if err := s.invitations.Insert(tx, inv.ID, inv); err != nil {
			return err
		}
		sent, err := s.sent.ReadOrNew(ctx, tx, sub.ID)
		if err != nil {
			return err
		}
		sent.IDs = append(sent.IDs, inv.ID)
		if err := s.sent.Write(tx, sub.ID, sent); err != nil {
			return err
		}
		if invitee == "" {
			return nil
		}
		l, err := s.invited.ReadOrNew(ctx, tx, invitee)
		if err != nil {
			return err
		}
		l.IDs = append([]string{inv.ID}, l.IDs...)
		return s.invited.Write(tx, invitee, l)
	})
	if err != nil {
		return nil, err
	}
	if invitee != "" {
		if err := s.pub.Publish(ctx, events.MemberInvited{InvitationID: inv.ID, SubscriptionID: sub.ID, OwnerID: ownerID,
			InviteeID: invitee, InvitedAt: now}); err != nil {
			platform.Logger(ctx).Warn("member.invited not published", slog.String("error", err.Error()))
		}
	}
	return inv, nil
}

// Invitations lists the listener's pending invitations, newest first.
func (s *Service) Invitations(ctx context.Context, userID string) ([]*domain.Invitation, error) {
	l, err := s.invited.Get(ctx, userID)
	if errors.Is(err, state.ErrNotFound) {
		return []*domain.Invitation{}, nil
	}
	if err != nil {
		return nil, err
	}
	all, err := s.invitations.GetMany(ctx, l.IDs)
	if err != nil {
		return nil, err
	}
	out := []*domain.Invitation{}
	for _, inv := range all {
		if inv.Status == domain.InvitePending && inv.InviteeID == userID {
			out = append(out, inv)
		}
	}
	return out, nil
}

// Accept makes the invited listener a member: one transaction over the
// invitation, the plan's member list and the listener's membership, so two
// acceptances at once cannot exceed the plan's room.
func (s *Service) Accept(ctx context.Context, userID, invitationID string) (*domain.Invitation, error) {
	if m := validate.ID(invitationID); m != "" {
		return nil, fault.Invalid("id", m)
	}
	var out *domain.Invitation
	err := state.Transact(ctx, s.kv, func(tx *state.Tx) error {
		inv, err := s.invitations.Read(ctx, tx, invitationID)
		if err != nil {
			return err
		}
		if inv.InviteeID != userID {
			return domain.ErrInvitationNotFound // someone else's: as if it did not exist
		}
		if inv.Status != domain.InvitePending {
			return domain.ErrInvitationUsed
		}
		sub, err := s.subs.Read(ctx, tx, inv.SubscriptionID)
		if err != nil {
			return err
		}
		plan, err := s.plans.Get(ctx, sub.PlanID)
		if err != nil {
			return err
		}
		if prev, err := s.members.Read(ctx, tx, userID); err == nil && prev.SubscriptionID != sub.ID {
			if other, err := s.subs.Get(ctx, prev.SubscriptionID); err == nil && other.Status == domain.Active && contains(other.Members, userID) {
				return domain.ErrMemberElsewhr
			}
		}
		if err := sub.AddMember(*plan, userID); err != nil {
			return err
		}
		now := s.now().UTC()
		sub.UpdatedAt, inv.Status, inv.UpdatedAt = now, domain.InviteAccepted, now
		out = inv
		if err := s.subs.Write(tx, sub.ID, sub); err != nil {
			return err
		}
		if err := s.invitations.Write(tx, inv.ID, inv); err != nil {
			return err
		}
		return s.members.Write(tx, userID, &ref{SubscriptionID: sub.ID})
	})
	return out, err
}

// RemoveMember removes a member from the owner's own family plan. A user who
// is not a member of it changes nothing, whoever's member they are.
func (s *Service) RemoveMember(ctx context.Context, ownerID, id, member string) (*domain.Subscription, error) {
	if m := validate.ID(member); m != "" {
		return nil, fault.Invalid("userId", m)
	}
	if _, err := s.Get(ctx, ownerID, id); err != nil {
		return nil, err
	}
	return s.dropMember(ctx, id, member)
}

// Leave takes the listener out of the family plan they belong to.
func (s *Service) Leave(ctx context.Context, userID string) error {
	m, err := s.members.Get(ctx, userID)
	if errors.Is(err, state.ErrNotFound) {
		return domain.ErrNotAMember
	}
	if err != nil {
		return err
	}
	_, err = s.dropMember(ctx, m.SubscriptionID, userID)
	return err
}

// dropMember removes member from subscription id's list and, only when they
// were on it, their membership record, in one transaction.
func (s *Service) dropMember(ctx context.Context, id, member string) (*domain.Subscription, error) {
	var sub *domain.Subscription
	removed := false
	err := state.Transact(ctx, s.kv, func(tx *state.Tx) error {
		x, err := s.subs.Read(ctx, tx, id)
		if err != nil {
			return err
		}
		sub = x
		if removed = x.RemoveMember(member); !removed {
			return nil
		}
		x.UpdatedAt = s.now().UTC()
		if m, err := s.members.Read(ctx, tx, member); err == nil && m.SubscriptionID == id {
			s.members.Remove(tx, member)
		}
		return s.subs.Write(tx, id, x)
	})
	if err == nil && removed {
		s.Audit.Record(ctx, audit.Record{Action: "subscription.member.removed", Subject: audit.Subject{Type: "subscription", ID: id},
			Details: map[string]string{"memberId": member}})
	}
	return sub, err
}

// Entitlement says what a listener may hear.
type Entitlement struct {
	FullAccess     bool   `json:"fullAccess"`
	HighQuality    bool   `json:"highQuality"`
	PlanID         string `json:"planId"`
	SubscriptionID string `json:"subscriptionId,omitempty"`
}

// Entitlement of a user: their own active paid plan, or a family they belong to.
func (s *Service) Entitlement(ctx context.Context, userID string) (Entitlement, error) {
	check := func(sub *domain.Subscription) (Entitlement, bool) {
		if sub == nil || sub.Status != domain.Active {
			return Entitlement{}, false
		}
		plan, err := s.plans.Get(ctx, sub.PlanID)
		if err != nil || plan.Price == 0 {
			return Entitlement{}, false
		}
		return Entitlement{FullAccess: true, HighQuality: plan.HighQuality, PlanID: plan.ID, SubscriptionID: sub.ID}, true
	}
	if sub, err := s.Current(ctx, userID); err == nil {
		if e, ok := check(sub); ok {
			return e, nil
		}
	}
	if m, err := s.members.Get(ctx, userID); err == nil {
		if sub, err := s.subs.Get(ctx, m.SubscriptionID); err == nil && contains(sub.Members, userID) {
			if e, ok := check(sub); ok {
				return e, nil
			}
		}
	}
	return Entitlement{PlanID: "free"}, nil
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// idemID is the id of a purchase's Idempotency-Key record: keys are the
// user's own, so two users' equal keys never meet.
func idemID(userID, key string) string { return userID + "|" + key }

// ErrCheckoutUnderWay makes a user.deleted wait (Dapr redelivers it) while
// the deleted account's checkout is still settling.
var ErrCheckoutUnderWay = errors.New("a checkout of the deleted account is under way; retry when it settles")

// ForgetUser acts on a deleted account (user.deleted): its subscription
// stops renewing (members keep the period that was paid), it leaves any
// family it belonged to, and every invitation that holds an address — those
// it sent and those it received — is deleted. Each step may run again; while
// a checkout of the account is under way it answers ErrCheckoutUnderWay so
// the event comes back once the checkout has settled.
func (s *Service) ForgetUser(ctx context.Context, userID string) error {
	mine, err := s.mine.Get(ctx, userID)
	if err != nil && !errors.Is(err, state.ErrNotFound) {
		return err
	}
	if mine != nil {
		for _, id := range mine.IDs {
			sub, err := s.subs.Get(ctx, id)
			if errors.Is(err, domain.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if sub.Status == domain.Pending {
				return ErrCheckoutUnderWay
			}
			if sub.Status == domain.Active && !sub.CancelAtPeriodEnd {
				if _, err := s.Cancel(ctx, userID, id); err != nil && !errors.Is(err, domain.ErrNotActive) {
					return err
				}
			}
			if err := s.dropInvitations(ctx, s.sent, id); err != nil {
				return err
			}
		}
	}
	if m, err := s.members.Get(ctx, userID); err == nil {
		if _, err := s.dropMember(ctx, m.SubscriptionID, userID); err != nil && !errors.Is(err, domain.ErrNotFound) {
			return err
		}
		if err := s.members.Delete(ctx, userID); err != nil {
			return err
		}
	} else if !errors.Is(err, state.ErrNotFound) {
		return err
	}
	return s.dropInvitations(ctx, s.invited, userID)
}

// dropInvitations deletes the invitations listed under id in index (sent by
// a subscription, or received by a listener), each with its place in the
// other index, then the list.
func (s *Service) dropInvitations(ctx context.Context, index state.Repo[list], id string) error {
	l, err := index.Get(ctx, id)
	if errors.Is(err, state.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, invID := range l.IDs {
		err := state.Transact(ctx, s.kv, func(tx *state.Tx) error {
			inv, err := s.invitations.Read(ctx, tx, invID)
			if errors.Is(err, domain.ErrInvitationNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			s.invitations.Remove(tx, invID)
			if inv.InviteeID != "" && inv.InviteeID != id {
				if err := s.unlist(ctx, tx, s.invited, inv.InviteeID, invID); err != nil {
					return err
				}
			}
			if inv.SubscriptionID != id {
				return s.unlist(ctx, tx, s.sent, inv.SubscriptionID, invID)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return index.Delete(ctx, id)
}

// unlist takes item out of the list stored under id, within tx.
func (s *Service) unlist(ctx context.Context, tx *state.Tx, index state.Repo[list], id, item string) error {
	l, err := index.Read(ctx, tx, id)
	if errors.Is(err, state.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	l.IDs = slices.DeleteFunc(l.IDs, func(x string) bool { return x == item })
	if len(l.IDs) == 0 {
		index.Remove(tx, id)
		return nil
	}
	return index.Write(tx, id, l)
}
