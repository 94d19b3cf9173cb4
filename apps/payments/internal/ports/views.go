package ports

import (
	"time"

	"github.com/harmonia-music/harmonia/apps/payments/internal/domain"
)

// cardRequest is the body of POST /api/v1/me/payment-methods.
type cardRequest struct {
	CardNumber string `json:"cardNumber"`
	ExpMonth   int    `json:"expMonth"`
	ExpYear    int    `json:"expYear"`
	CVC        string `json:"cvc"`
	HolderName string `json:"holderName"`
}

func (c cardRequest) input() domain.CardInput {
	return domain.CardInput{CardNumber: c.CardNumber, ExpMonth: c.ExpMonth, ExpYear: c.ExpYear, CVC: c.CVC, HolderName: c.HolderName}
}

// paymentView is a charge as its payer sees it: no idempotency key, processor
// reference or attempt counts.
type paymentView struct {
	ID              string     `json:"id"`
	PaymentMethodID string     `json:"paymentMethodId,omitempty"`
	Amount          int64      `json:"amount"`
	Currency        string     `json:"currency"`
	Description     string     `json:"description,omitempty"`
	Status          string     `json:"status"`
	Reason          string     `json:"reason,omitempty"`
	RefundedAt      *time.Time `json:"refundedAt,omitempty"`
	CreatedAt       time.Time  `json:"createdAt"`
	UpdatedAt       time.Time  `json:"updatedAt"`
}

func paymentOf(c *domain.Charge) paymentView {
	return paymentView{ID: c.ID, PaymentMethodID: c.PaymentMethodID, Amount: c.Amount, Currency: c.Currency,
		Description: c.Description, Status: c.Status, Reason: c.Reason, RefundedAt: c.RefundedAt,
		CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
}

// chargeAnswer is what subscriptions' saga gets for a charge or a refund.
type chargeAnswer struct {
	ChargeID string `json:"chargeId"`
	Status   string `json:"status"`
	Reason   string `json:"reason,omitempty"`
}

func answerOf(c *domain.Charge) chargeAnswer {
	return chargeAnswer{ChargeID: c.ID, Status: c.Status, Reason: c.Reason}
}
