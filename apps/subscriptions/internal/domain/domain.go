// Package domain holds subscriptions' rules: plans, subscription states and
// family members.
package domain

import (
	"slices"
	"time"

	"github.com/harmonia-music/harmonia/internal/platform/fault"
)

// Plan is something a listener can subscribe to.
type Plan struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Price       int64  `json:"price"` // minor units per period
	Currency    string `json:"currency"`
	Period      string `json:"period"`
	MaxMembers  int    `json:"maxMembers"` // family members besides the owner
	HighQuality bool   `json:"highQuality"`
}

// DefaultPlans are seeded at first start.
var DefaultPlans = []Plan{
	{ID: "free", Name: "Free", Price: 0, Currency: "EUR", Period: "month"},
	{ID: "individual", Name: "Individual", Price: 999, Currency: "EUR", Period: "month"},
	{ID: "family", Name: "Family", Price: 1599, Currency: "EUR", Period: "month", MaxMembers: 5},
	{ID: "premium", Name: "Premium", Price: 1299, Currency: "EUR", Period: "month", HighQuality: true},
}

// Subscription states.
const (
	Pending       = "pending"
	Active        = "active"
	PaymentFailed = "payment_failed"
	Failed        = "failed"
	Cancelled     = "cancelled"
	Expired       = "expired"
)

// Subscription is a listener's paid plan.
type Subscription struct {
	ID                string     `json:"id"`
	UserID            string     `json:"userId"`
	PlanID            string     `json:"planId"`
	PaymentMethodID   string     `json:"paymentMethodId"`
	Key               string     `json:"idempotencyKey"`
	Status            string     `json:"status"`
	Step              string     `json:"step"`
	Outcome           string     `json:"outcome,omitempty"`
	Members           []string   `json:"members"`
	Cycle             int        `json:"cycle"`
	PeriodStart       *time.Time `json:"periodStart,omitempty"`
	PeriodEnd         *time.Time `json:"periodEnd,omitempty"`
	CancelAtPeriodEnd bool       `json:"cancelAtPeriodEnd"`
	CreatedAt         time.Time  `json:"createdAt"`
	UpdatedAt         time.Time  `json:"updatedAt"`
}

// Activated reports whether the period of cycle (0 the first purchase, n
// the n-th renewal) has been activated already.
func (s *Subscription) Activated(cycle int) bool { return s.Status == Active && s.Cycle >= cycle }

// Open reports whether the subscription is under way or running.
func (s *Subscription) Open() bool { return s.Status == Pending || s.Status == Active }

// Errors.
var (
	ErrNotFound      = fault.E(fault.KindNotFound, "subscription-not-found", "no such subscription")
	ErrPlanNotFound  = fault.Invalid("planId", "no such plan")
	ErrFreePlan      = fault.Invalid("planId", "the free plan needs no subscription")
	ErrAlreadyOpen   = fault.E(fault.KindConflict, "subscription-exists", "you already have an active or pending subscription")
	ErrNotActive     = fault.E(fault.KindConflict, "subscription-not-active", "only an active subscription can do that")
	ErrNotFamily     = fault.E(fault.KindConflict, "not-a-family-plan", "only the family plan has members")
	ErrFamilyFull    = fault.E(fault.KindConflict, "family-full", "the family plan has the most members it allows")
	ErrMemberElsewhr = fault.E(fault.KindConflict, "member-elsewhere", "that listener already belongs to a subscription")
	ErrNoKey         = fault.Invalid("Idempotency-Key", "this request needs an Idempotency-Key header (a unique string per purchase)")
)

// Invitation states.
const (
	InvitePending  = "pending"
	InviteAccepted = "accepted"
)

// Invitation asks a listener to join a family plan; only their acceptance
// makes them a member.
type Invitation struct {
	ID             string    `json:"id"`
	SubscriptionID string    `json:"subscriptionId"`
	OwnerID        string    `json:"ownerId"`
	Email          string    `json:"email"`
	InviteeID      string    `json:"inviteeId,omitempty"` // "" when no account signs in with Email
	Status         string    `json:"status"`
	CreatedAt      time.Time `json:"createdAt"`
	UpdatedAt      time.Time `json:"updatedAt"`
}

// Invitation and membership errors.
var (
	ErrInvitationNotFound = fault.E(fault.KindNotFound, "invitation-not-found", "no such invitation")
	ErrInvitationUsed     = fault.E(fault.KindConflict, "invitation-not-pending", "this invitation was accepted already")
	ErrNotAMember         = fault.E(fault.KindNotFound, "not-a-member", "you are not a member of a family plan")
	ErrInviteSelf         = fault.Invalid("email", "is your own address: you are the plan's owner")
)

// CanInvite says whether the owner may invite one more member.
func (s *Subscription) CanInvite(p Plan) error {
	switch {
	case s.Status != Active:
		return ErrNotActive
	case p.MaxMembers == 0:
		return ErrNotFamily
	case len(s.Members) >= p.MaxMembers:
		return ErrFamilyFull
	}
	return nil
}

// AddMember adds a family member.
func (s *Subscription) AddMember(p Plan, userID string) error {
	switch {
	case s.Status != Active:
		return ErrNotActive
	case p.MaxMembers == 0:
		return ErrNotFamily
	case slices.Contains(s.Members, userID) || userID == s.UserID:
		return nil
	case len(s.Members) >= p.MaxMembers:
		return ErrFamilyFull
	}
	s.Members = append(s.Members, userID)
	return nil
}

// RemoveMember removes a family member; it reports whether one was removed.
func (s *Subscription) RemoveMember(userID string) bool {
	i := slices.Index(s.Members, userID)
	if i < 0 {
		return false
	}
	s.Members = slices.Delete(s.Members, i, i+1)
	return true
}
