// Package domain holds payments' rules: card checks, payment methods and
// charges with idempotency keys.
package domain

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/harmonia-music/harmonia/internal/platform/fault"
)

// CardInput is what a client sends once; only a token, the brand and the
// last four digits are kept.
type CardInput struct {
	CardNumber string `json:"cardNumber"`
	ExpMonth   int    `json:"expMonth"`
	ExpYear    int    `json:"expYear"`
	CVC        string `json:"cvc"`
	HolderName string `json:"holderName"`
}

// Luhn reports whether digits pass the Luhn check.
func Luhn(digits string) bool {
	sum, double := 0, false
	for i := len(digits) - 1; i >= 0; i-- {
		d := int(digits[i] - '0')
		if double {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return len(digits) > 0 && sum%10 == 0
}

// Brand names the card network from the number.
func Brand(n string) string {
	switch {
	case strings.HasPrefix(n, "4"):
		return "visa"
	case len(n) >= 2 && n[0] == '5' && n[1] >= '1' && n[1] <= '5', len(n) >= 4 && n[:4] >= "2221" && n[:4] <= "2720":
		return "mastercard"
	case strings.HasPrefix(n, "34"), strings.HasPrefix(n, "37"):
		return "amex"
	}
	return "unknown"
}

// Validate checks a card and returns its digits without spaces or dashes.
func (c CardInput) Validate(now time.Time) (string, error) {
	var v fault.Validation
	num := strings.NewReplacer(" ", "", "-", "").Replace(c.CardNumber)
	allDigits := num != "" && strings.Trim(num, "0123456789") == ""
	switch {
	case !allDigits || len(num) < 12 || len(num) > 19:
		v.Add("cardNumber", "must be 12 to 19 digits")
	case !Luhn(num):
		v.Add("cardNumber", "is not a valid card number (checksum)")
	}
	if c.ExpMonth < 1 || c.ExpMonth > 12 {
		v.Add("expMonth", "must be 1 to 12")
	}
	if c.ExpYear < 2000 || c.ExpYear > now.Year()+20 {
		v.Add("expYear", "must be a four-digit year")
	} else if c.ExpMonth >= 1 && c.ExpMonth <= 12 && (c.ExpYear < now.Year() || c.ExpYear == now.Year() && c.ExpMonth < int(now.Month())) {
		v.Add("expYear", "the card has expired")
	}
	want := 3
	if Brand(num) == "amex" {
		want = 4
	}
	if len(c.CVC) != want || strings.Trim(c.CVC, "0123456789") != "" {
		v.Add("cvc", "must be %d digits", want)
	}
	if n := utf8.RuneCountInString(strings.TrimSpace(c.HolderName)); n == 0 || n > 100 {
		v.Add("holderName", "is required (at most 100 characters)")
	}
	return num, v.Err()
}

// PaymentMethod is a tokenised card.
type PaymentMethod struct {
	ID         string    `json:"id"`
	UserID     string    `json:"userId"`
	Token      string    `json:"token"` // the processor's token; never sent to clients
	Brand      string    `json:"brand"`
	Last4      string    `json:"last4"`
	ExpMonth   int       `json:"expMonth"`
	ExpYear    int       `json:"expYear"`
	HolderName string    `json:"holderName"`
	CreatedAt  time.Time `json:"createdAt"`
}

// MethodView is a payment method as its owner sees it.
type MethodView struct {
	ID         string    `json:"id"`
	Brand      string    `json:"brand"`
	Last4      string    `json:"last4"`
	ExpMonth   int       `json:"expMonth"`
	ExpYear    int       `json:"expYear"`
	HolderName string    `json:"holderName"`
	CreatedAt  time.Time `json:"createdAt"`
}

// View hides the token.
func (m *PaymentMethod) View() MethodView {
	return MethodView{ID: m.ID, Brand: m.Brand, Last4: m.Last4, ExpMonth: m.ExpMonth, ExpYear: m.ExpYear, HolderName: m.HolderName, CreatedAt: m.CreatedAt}
}

// Charge states.
const (
	Processing = "processing"
	Succeeded  = "succeeded"
	Declined   = "declined"
	Failed     = "failed" // transient: may be tried again with the same key
	Refunded   = "refunded"
	Voided     = "voided" // never charged, and never will be under this key
	// Refunding: one refund has claimed the charge and is at the processor.
	Refunding = "refunding"
	// RefundFailed: the processor refused or did not answer; the money is
	// still the listener's to get back, and the next refund call tries again.
	RefundFailed = "refund_failed"
)

// Charge is one attempt to take money, identified by its idempotency key.
type Charge struct {
	ID              string `json:"id"`
	Key             string `json:"idempotencyKey"`
	UserID          string `json:"userId"`
	PaymentMethodID string `json:"paymentMethodId"`
	Amount          int64  `json:"amount"`
	Currency        string `json:"currency"`
	Description     string `json:"description"`
	PlanID          string `json:"planId,omitempty"`
	SubscriptionID  string `json:"subscriptionId,omitempty"`
	Status          string `json:"status"`
	Reason          string `json:"reason,omitempty"`
	ProcessorRef    string `json:"processorRef,omitempty"`
	Attempts        int    `json:"attempts"`
	RefundAttempts  int    `json:"refundAttempts,omitempty"`
	// ApprovedAfterVoid: the processor approved after compensation had voided
	// the key; the money goes back at once and the charge ends voided.
	ApprovedAfterVoid bool       `json:"approvedAfterVoid,omitempty"`
	RefundedAt        *time.Time `json:"refundedAt,omitempty"`
	CreatedAt         time.Time  `json:"createdAt"`
	UpdatedAt         time.Time  `json:"updatedAt"`
}

// Final reports whether the charge's attempt to take money is over: no
// request under its key reaches the processor's charge again (a succeeded
// charge may still move on to a refund).
func (c *Charge) Final() bool {
	switch c.Status {
	case Succeeded, Declined, Refunded, Voided, Refunding, RefundFailed:
		return true
	}
	return false
}

// RefundKey is the idempotency key of the refund of the charge made under
// key: the processor gives the money back at most once per refund key.
func RefundKey(key string) string { return "refund:" + key }

// Errors.
var (
	ErrMethodNotFound = fault.E(fault.KindNotFound, "payment-method-not-found", "no such payment method")
	ErrChargeNotFound = fault.E(fault.KindNotFound, "charge-not-found", "no charge with this idempotency key")
	ErrInProgress     = fault.E(fault.KindConflict, "charge-in-progress", "a charge with this idempotency key is in progress; try again")
	ErrRefundBusy     = fault.E(fault.KindConflict, "refund-in-progress", "a refund of this charge is in progress; try again")
	ErrProcessor      = fault.E(fault.KindUnavailable, "processor-unavailable", "the card processor did not answer; try again")
)
