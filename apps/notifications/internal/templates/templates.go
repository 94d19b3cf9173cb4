// Package templates renders notifications' emails (html/template, one file
// per kind under mail/, sharing a layout) and SMS texts.
package templates

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"net/mail"
	"strings"

	"github.com/harmonia-music/harmonia/apps/notifications/internal/domain"
)

//go:embed mail/*.html
var files embed.FS

// Mail holds one parsed template per kind.
type Mail struct {
	byKind map[string]*template.Template
}

// subjects are the email subjects by kind; {{.P.x}} is not used here:
// subjects take parameters through fmt where they need them.
var subjects = map[string]func(p map[string]string) string{
	domain.KindWelcome:       func(map[string]string) string { return "Welcome to Harmonia" },
	domain.KindReceipt:       func(p map[string]string) string { return "Your Harmonia receipt: " + p["plan"] },
	domain.KindPaymentFailed: func(map[string]string) string { return "Your Harmonia payment did not go through" },
	domain.KindCancelled:     func(map[string]string) string { return "Your Harmonia subscription has ended" },
	domain.KindExpired:       func(map[string]string) string { return "Your Harmonia subscription could not be renewed" },
	domain.KindRefund:        func(map[string]string) string { return "Your Harmonia refund" },
	domain.KindRelease:       func(p map[string]string) string { return "New from " + p["artist"] + ": " + p["album"] },
	domain.KindOffer:         func(p map[string]string) string { return p["title"] },
	domain.KindInvitation:    func(map[string]string) string { return "You are invited to a Harmonia family plan" },
}

// Load parses every template; a missing one is an error at start.
func Load() (*Mail, error) {
	m := &Mail{byKind: map[string]*template.Template{}}
	for kind := range subjects {
		t, err := template.New(kind).Option("missingkey=zero").ParseFS(files, "mail/layout.html", "mail/"+kind+".html")
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", kind, err)
		}
		m.byKind[kind] = t
	}
	return m, nil
}

// Data is what a template sees.
type Data struct {
	Subject        string
	Name           string
	BaseURL        string
	UnsubscribeURL string
	P              map[string]string
}

// Render returns the subject and HTML body of kind for one listener.
func (m *Mail) Render(kind string, d Data) (subject, body string, err error) {
	t, ok := m.byKind[kind]
	if !ok {
		return "", "", fmt.Errorf("no email template for %q", kind)
	}
	d.Subject = oneLine(subjects[kind](d.P))
	if d.Name == "" {
		d.Name = "there"
	}
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, "layout", d); err != nil {
		return "", "", err
	}
	return d.Subject, b.String(), nil
}

// SMS is the text message of a kind (only security messages go by SMS).
func SMS(kind string, p map[string]string) (string, error) {
	switch kind {
	case domain.KindPaymentFailed:
		return fmt.Sprintf("Harmonia: the payment for your %s subscription did not go through. Check your card in the app.", p["plan"]), nil
	}
	return "", fmt.Errorf("no SMS text for %q", kind)
}

// Recipient formats "Display Name <address>" for the SMTP binding's
// emailTo. The binding splits emailTo on ';' and its mail library would
// Q-encode a non-ASCII value whole, address included, so the name is
// encoded here (RFC 2047, leaving the value ASCII) and ';' is kept out of it.
func Recipient(name, address string) string {
	name = oneLine(strings.ReplaceAll(name, ";", ","))
	if name == "" {
		return address
	}
	a := mail.Address{Name: name, Address: address}
	s := a.String() // quotes or Q-encodes the name as needed
	if strings.ContainsAny(s, "\r\n") {
		return address
	}
	return s
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.NewReplacer("\r", " ", "\n", " ").Replace(s)), " ")
}
