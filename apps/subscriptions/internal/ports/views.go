package ports

import (
	"time"

	"github.com/harmonia-music/harmonia/apps/subscriptions/internal/domain"
)

// subscriptionView is a subscription as its owner sees it: no idempotency
// key, no saga bookkeeping beyond the step it is at.
type subscriptionView struct {
	ID                string     `json:"id"`
	PlanID            string     `json:"planId"`
	PaymentMethodID   string     `json:"paymentMethodId"`
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

func viewOf(s *domain.Subscription) subscriptionView {
	members := s.Members
	if members == nil {
		members = []string{}
	}
	return subscriptionView{ID: s.ID, PlanID: s.PlanID, PaymentMethodID: s.PaymentMethodID, Status: s.Status, Step: s.Step,
		Outcome: s.Outcome, Members: members, Cycle: s.Cycle, PeriodStart: s.PeriodStart, PeriodEnd: s.PeriodEnd,
		CancelAtPeriodEnd: s.CancelAtPeriodEnd, CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt}
}

type planView struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Price       int64  `json:"price"`
	Currency    string `json:"currency"`
	Period      string `json:"period"`
	MaxMembers  int    `json:"maxMembers"`
	HighQuality bool   `json:"highQuality"`
}

func plansOf(ps []*domain.Plan) []planView {
	out := make([]planView, len(ps))
	for i, p := range ps {
		out[i] = planView{ID: p.ID, Name: p.Name, Price: p.Price, Currency: p.Currency, Period: p.Period,
			MaxMembers: p.MaxMembers, HighQuality: p.HighQuality}
	}
	return out
}

// sentInvitationView is an invitation as its sender sees it.
type sentInvitationView struct {
	ID     string `json:"id"`
	Email  string `json:"email"`
	Status string `json:"status"`
}

func sentInvitationOf(i *domain.Invitation) sentInvitationView {
	return sentInvitationView{ID: i.ID, Email: i.Email, Status: i.Status}
}

// receivedInvitationView is an invitation as the invitee sees it.
type receivedInvitationView struct {
	ID             string    `json:"id"`
	SubscriptionID string    `json:"subscriptionId"`
	Status         string    `json:"status"`
	CreatedAt      time.Time `json:"createdAt"`
}

func receivedInvitationOf(i *domain.Invitation) receivedInvitationView {
	return receivedInvitationView{ID: i.ID, SubscriptionID: i.SubscriptionID, Status: i.Status, CreatedAt: i.CreatedAt}
}
