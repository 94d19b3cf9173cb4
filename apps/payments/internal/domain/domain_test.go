package domain

import (
	"errors"
	"testing"
	"time"

	"github.com/harmonia-music/harmonia/internal/platform/fault"
)

func TestCardChecks(t *testing.T) {
	now := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	good := CardInput{CardNumber: "4242 4242 4242 4242", ExpMonth: 12, ExpYear: 2030, CVC: "123", HolderName: "Ana"}
	if num, err := good.Validate(now); err != nil || num != "4242424242424242" || Brand(num) != "visa" {
		t.Fatal(num, err)
	}
	cases := map[string]struct {
		mut   func(*CardInput)
		field string
	}{
		"checksum":    {func(c *CardInput) { c.CardNumber = "4242424242424241" }, "cardNumber"},
		"letters":     {func(c *CardInput) { c.CardNumber = "4242abcd42424242" }, "cardNumber"},
		"month":       {func(c *CardInput) { c.ExpMonth = 13 }, "expMonth"},
		"expired":     {func(c *CardInput) { c.ExpYear, c.ExpMonth = 2026, 10 }, "expYear"},
		"cvc":         {func(c *CardInput) { c.CVC = "12" }, "cvc"},
		"amex cvc":    {func(c *CardInput) { c.CardNumber = "378282246310005" }, "cvc"},
		"holder":      {func(c *CardInput) { c.HolderName = " " }, "holderName"},
		"short":       {func(c *CardInput) { c.CardNumber = "4242" }, "cardNumber"},
		"this month":  {func(c *CardInput) { c.ExpYear, c.ExpMonth = 2026, 11 }, ""},
		"mastercard2": {func(c *CardInput) { c.CardNumber = "2223003122003222" }, ""},
	}
	for name, c := range cases {
		in := good
		c.mut(&in)
		_, err := in.Validate(now)
		if c.field == "" {
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
			continue
		}
		var e *fault.Error
		if !errors.As(err, &e) || e.Fields[0].Field != c.field {
			t.Errorf("%s: %v, want a problem with %s", name, err, c.field)
		}
	}
	if Brand("5555555555554444") != "mastercard" || Brand("6011111111111117") != "unknown" {
		t.Fatal("brands")
	}
}
