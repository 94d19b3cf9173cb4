// Package validate holds the field rules that more than one service applies
// to the same public data (auth at sign-up, users on profile edits).
package validate

import (
	"net/mail"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// NormalizeEmail lower-cases and trims an address.
func NormalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// Email reports why s is not an acceptable address, or "".
func Email(s string) string {
	if s == "" {
		return "is required"
	}
	if len(s) > 254 {
		return "must be at most 254 characters"
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || !strings.Contains(s[strings.LastIndexByte(s, '@'):], ".") {
		return "must be an email address like name@example.com"
	}
	return ""
}

// DisplayName reports why s is not an acceptable display name, or "".
func DisplayName(s string) string {
	n := utf8.RuneCountInString(strings.TrimSpace(s))
	switch {
	case n == 0:
		return "is required"
	case n > 80:
		return "must be at most 80 characters"
	case strings.ContainsAny(s, "\x00\r\n\t"):
		return "must not contain control characters"
	}
	return ""
}

var countryRe = regexp.MustCompile(`^[A-Z]{2}$`)

// Country accepts ISO 3166-1 alpha-2 codes ("GB", "US").
func Country(s string) string {
	if !countryRe.MatchString(s) {
		return "must be an ISO 3166-1 alpha-2 country code such as GB"
	}
	return ""
}

// MinAge is the youngest age an account may declare.
const MinAge = 13

// BirthYear accepts years that make the user between MinAge and 120 years old.
func BirthYear(y int, now time.Time) string {
	if y < now.Year()-120 || y > now.Year()-MinAge {
		return "must be a year that makes you between 13 and 120 years old"
	}
	return ""
}

var phoneRe = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// Phone accepts E.164 numbers ("+447700900123").
func Phone(s string) string {
	if !phoneRe.MatchString(s) {
		return "must be an E.164 phone number such as +447700900123"
	}
	return ""
}

// Password reports why a new password is too weak, or "".
func Password(s string) string {
	n := utf8.RuneCountInString(s)
	switch {
	case n < 10:
		return "must be at least 10 characters"
	case len(s) > 256:
		return "must be at most 256 bytes"
	}
	return ""
}

var uuidRe = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// ID accepts the lower-case UUIDs Harmonia uses as ids.
func ID(s string) string {
	if !uuidRe.MatchString(s) {
		return "must be an id (a UUID)"
	}
	return ""
}

// Adder records one invalid field (fault.Validation satisfies it).
type Adder interface {
	Add(field, format string, args ...any)
}

// ProfileFields checks the profile fields that sign-up and profile edits
// share. Zero values of the optional fields (country, birthYear, phone) mean
// "not given" and pass.
func ProfileFields(v Adder, email, displayName, country string, birthYear int, phone string, now time.Time) {
	check := func(field, msg string) {
		if msg != "" {
			v.Add(field, "%s", msg)
		}
	}
	check("email", Email(email))
	check("displayName", DisplayName(displayName))
	if country != "" {
		check("country", Country(country))
	}
	if birthYear != 0 {
		check("birthYear", BirthYear(birthYear, now))
	}
	if phone != "" {
		check("phone", Phone(phone))
	}
}
