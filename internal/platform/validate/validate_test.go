package validate

import (
	"testing"
	"time"
)

func TestRules(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name string
		got  string
		ok   bool
	}{
		{"email ok", Email("ana@example.com"), true},
		{"email empty", Email(""), false},
		{"email no domain dot", Email("ana@example"), false},
		{"email display form", Email("Ana <ana@example.com>"), false},
		{"email spaces", Email("ana @example.com"), false},
		{"name ok", DisplayName("Ana Lima"), true},
		{"name blank", DisplayName("   "), false},
		{"name newline", DisplayName("a\nb"), false},
		{"country ok", Country("GB"), true},
		{"country lower", Country("gb"), false},
		{"country long", Country("GBR"), false},
		{"birth ok", BirthYear(1990, now), true},
		{"birth too young", BirthYear(2020, now), false},
		{"birth too old", BirthYear(1800, now), false},
		{"phone ok", Phone("+447700900123"), true},
		{"phone local", Phone("07700900123"), false},
		{"password ok", Password("correct horse"), true},
		{"password short", Password("short"), false},
		{"id ok", ID("0192f0c4-7d3b-7a8e-9f00-1234567890ab"), true},
		{"id upper", ID("0192F0C4-7D3B-7A8E-9F00-1234567890AB"), false},
		{"id junk", ID("../etc/passwd"), false},
	}
	for _, c := range cases {
		if (c.got == "") != c.ok {
			t.Errorf("%s: got %q, want ok=%v", c.name, c.got, c.ok)
		}
	}
}
