package templates

import (
	"net/mail"
	"strings"
	"testing"

	"github.com/harmonia-music/harmonia/apps/notifications/internal/domain"
)

// Every kind renders, escapes what a listener or admin typed, and offers
// alone carry the unsubscribe link.
func TestRenderEveryKind(t *testing.T) {
	m, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	for kind := range subjects {
		subject, body, err := m.Render(kind, Data{Name: `Zoë <script>`, BaseURL: "http://gw", P: map[string]string{
			"plan": "Individual", "title": "<b>Half</b> price", "body": "x", "artist": "A", "album": "B"}})
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		if subject == "" || strings.Contains(body, "<script>") || !strings.Contains(body, "Zoë &lt;script&gt;") {
			t.Fatalf("%s: subject %q, body not escaped:\n%s", kind, subject, body)
		}
		if strings.Contains(body, "Unsubscribe") {
			t.Fatalf("%s carries an unsubscribe link without one given", kind)
		}
	}
	_, body, _ := m.Render(domain.KindOffer, Data{UnsubscribeURL: "http://gw/api/v1/notifications/unsubscribe?token=a.b", P: map[string]string{"title": "T"}})
	if !strings.Contains(body, `href="http://gw/api/v1/notifications/unsubscribe?token=a.b"`) {
		t.Fatalf("offer without its link:\n%s", body)
	}
}

// A display name with non-ASCII letters, quotes, ';' or a line break gives
// an ASCII To value that parses back to the address and the name.
func TestRecipient(t *testing.T) {
	for _, c := range []struct{ name, want string }{
		{"Zoë Müller", "Zoë Müller"},
		{`Ann "The Voice"; Smith`, `Ann "The Voice", Smith`},
		{"Bob\r\nBcc: evil@example.com", "Bob Bcc: evil@example.com"},
		{"", ""},
	} {
		got := Recipient(c.name, "l@example.com")
		for _, r := range got {
			if r > 127 || r == '\n' || r == '\r' {
				t.Fatalf("%q: %q is not one ASCII line", c.name, got)
			}
		}
		if strings.Contains(got, ";") {
			t.Fatalf("%q: %q would split into two recipients", c.name, got)
		}
		a, err := mail.ParseAddress(got)
		if err != nil || a.Address != "l@example.com" || a.Name != c.want {
			t.Fatalf("%q: %q parses to %+v, %v", c.name, got, a, err)
		}
	}
}
