package e2e

import (
	"database/sql"
	"encoding/base64"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type auditEntry struct {
	ID          string            `json:"id"`
	Seq         int64             `json:"seq"`
	Service     string            `json:"service"`
	Actor       string            `json:"actor"`
	Action      string            `json:"action"`
	SubjectType string            `json:"subjectType"`
	SubjectID   string            `json:"subjectId"`
	Outcome     string            `json:"outcome"`
	RequestID   string            `json:"requestId"`
	Details     map[string]string `json:"details"`
	Hash        string            `json:"hash"`
}

type auditPage struct {
	Items      []auditEntry `json:"items"`
	NextCursor string       `json:"nextCursor"`
}

func auditQuery(t *testing.T, tok string, q url.Values) auditPage {
	t.Helper()
	r := do(t, "GET", gw+"/admin/audit?"+q.Encode(), tok, nil)
	expect(t, r, 200)
	var p auditPage
	r.json(t, &p)
	return p
}

// waitAudit polls a query until done accepts its entries.
func waitAudit(t *testing.T, tok string, q url.Values, what string, done func([]auditEntry) bool) []auditEntry {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		p := auditQuery(t, tok, q)
		if done(p.Items) {
			return p.Items
		}
		if time.Now().After(deadline) {
			t.Fatalf("the audit log never showed %s for %s; it has %+v", what, q.Encode(), p.Items)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func actions(es []auditEntry) map[string][]auditEntry {
	out := map[string][]auditEntry{}
	for _, e := range es {
		out[e.Action] = append(out[e.Action], e)
	}
	return out
}

type verification struct {
	OK          bool  `json:"ok"`
	Entries     int64 `json:"entries"`
	Checkpoints int   `json:"checkpoints"`
	Broken      *struct {
		Seq    int64  `json:"seq"`
		ID     string `json:"id"`
		Reason string `json:"reason"`
	} `json:"broken"`
}

func verifyAudit(t *testing.T, tok string) verification {
	t.Helper()
	r := do(t, "GET", gw+"/admin/audit/verify", tok, nil)
	expect(t, r, 200)
	var v verification
	r.json(t, &v)
	return v
}

// A checkout, a refund, failed sign-ins, a playlist with personal data in
// its name and an account deletion each leave the right entries; the store
// holds none of the personal data; an entry edited in the database is
// caught by verify; a deleted account's id matches nothing any more; only
// admins read the log.
func TestAuditLogRecordsMoneyAndAccountActions(t *testing.T) {
	admin := adminTokens(t)

	// a checks out, fails a sign-in, and deletes a playlist whose name
	// carries a phone, an email and a card number.
	a := newAccount(t)
	expect(t, login(t, a.Email, "not-the-password"), 401)
	unknown := "nobody-" + randomHex(4) + "@example.com"
	expect(t, login(t, unknown, "whatever-password"), 401)
	pm := addCard(t, a.AccessToken, "4242424242424242")
	r := subscribe(t, a.AccessToken, "audit-"+randomHex(4), "individual", pm)
	expect(t, r, 202)
	var sub subscription
	r.json(t, &sub)
	if s := settle(t, a.AccessToken, sub.ID); s.Status != "active" {
		t.Fatalf("checkout: %+v", s)
	}
	phone, card := "555-867-5309", "4111 1111 1111 1111"
	r = do(t, "POST", gw+"/playlists", a.AccessToken, map[string]any{"name": "call " + phone + " or " + a.Email + " card " + card})
	expect(t, r, 201)
	var pl struct {
		ID      string `json:"id"`
		Version int    `json:"version"`
	}
	r.json(t, &pl)
	expect(t, do(t, "DELETE", gw+"/playlists/"+pl.ID, a.AccessToken, nil, "If-Match", fmt.Sprintf(`"v%d"`, pl.Version)), 204)

	mine := waitAudit(t, admin.AccessToken, url.Values{"actor": {a.UserID}, "limit": {"100"}}, "a's actions", func(es []auditEntry) bool {
		got := actions(es)
		for _, want := range []string{"auth.registered", "auth.login.failed", "payment.method.added", "subscription.created",
			"payment.charged", "subscription.activated", "playlist.deleted"} {
			if len(got[want]) == 0 {
				return false
			}
		}
		return true
	})
	got := actions(mine)
	for i := 1; i < len(mine); i++ {
		if mine[i].Seq >= mine[i-1].Seq {
			t.Fatal("entries are not newest first")
		}
	}
	charged := got["payment.charged"][0]
	if charged.Outcome != "success" || charged.Details["amount"] == "" || charged.Details["currency"] == "" || charged.SubjectType != "payment" ||
		charged.Service != "payments" || len(got["payment.charged"]) != 1 {
		t.Fatalf("payment.charged entry: %+v (of %d)", charged, len(got["payment.charged"]))
	}
	if !strings.HasPrefix(charged.Actor, "p-") || strings.Contains(charged.Actor, a.UserID) {
		t.Fatalf("the actor is not pseudonymised: %q", charged.Actor)
	}
	failed := got["auth.login.failed"][0]
	if failed.Outcome != "failure" || failed.Details["reason"] != "wrong password" || failed.RequestID == "" || failed.SubjectID != failed.Actor {
		t.Fatalf("auth.login.failed entry: %+v", failed)
	}
	if n := got["playlist.deleted"][0].Details["name"]; n != "call [phone] or [email] card [removed]" {
		t.Fatalf("the playlist name was kept as %q", n)
	}
	// the unknown address's attempt is anonymous, and the address is nowhere
	anon := waitAudit(t, admin.AccessToken, url.Values{"actor": {"anonymous"}, "action": {"auth.login.failed"}}, "an anonymous failed sign-in",
		func(es []auditEntry) bool { return len(es) > 0 })
	if anon[0].Details["reason"] != "unknown account" {
		t.Fatalf("anonymous failure: %+v", anon[0])
	}

	// b's checkout fails after the charge: the refund is recorded against the charge
	b, bs := checkout(t, "4242424242424242", "fail-activation-"+randomHex(4))
	if bs.Status != "failed" {
		t.Fatalf("b's checkout: %+v", bs)
	}
	cs := chargesOf(t, b.AccessToken)
	if len(cs) != 1 || cs[0].Status != "refunded" {
		t.Fatalf("b's charges: %+v", cs)
	}
	waitAudit(t, admin.AccessToken, url.Values{"subjectId": {cs[0].ID}}, "the charge and its refund", func(es []auditEntry) bool {
		g := actions(es)
		return len(g["payment.charged"]) == 1 && len(g["payment.refunded"]) == 1 && g["payment.refunded"][0].Outcome == "success" &&
			g["payment.refunded"][0].Actor == "system" && g["payment.refunded"][0].Details["amount"] == fmt.Sprint(cs[0].Amount)
	})
	waitAudit(t, admin.AccessToken, url.Values{"actor": {b.UserID}, "action": {"subscription.created"}}, "b's subscription", func(es []auditEntry) bool {
		return len(es) == 1 && es[0].SubjectID == bs.ID
	})

	// c deletes the account: afterwards its id matches nothing
	c := newAccount(t)
	expect(t, login(t, c.Email, c.Password), 200)
	waitAudit(t, admin.AccessToken, url.Values{"actor": {c.UserID}}, "c's sign-in", func(es []auditEntry) bool {
		return len(actions(es)["auth.login.succeeded"]) == 1
	})
	expect(t, do(t, "DELETE", gw+"/me", c.AccessToken, nil), 204)
	waitAudit(t, admin.AccessToken, url.Values{"actor": {c.UserID}}, "nothing for the deleted account", func(es []auditEntry) bool {
		return len(es) == 0
	})
	if p := auditQuery(t, admin.AccessToken, url.Values{"subjectId": {c.UserID}}); len(p.Items) != 0 {
		t.Fatalf("the deleted account's id still matches %d entries as a subject", len(p.Items))
	}

	// Nothing personal in logging's store: no email, phone or card number.
	if left := storesHoldingIn(t, "logging", a.Email, unknown, c.Email, phone, card, "4111111111111111", "4242424242424242",
		a.UserID, b.UserID, c.UserID); len(left) > 0 {
		t.Fatalf("logging's store holds personal data:\n%s", strings.Join(left, "\n"))
	}

	// Only admins read it; bad filters are 400s naming the field.
	expect(t, do(t, "GET", gw+"/admin/audit", a.AccessToken, nil), 403)
	expect(t, do(t, "GET", gw+"/admin/audit/verify", a.AccessToken, nil), 403)
	expect(t, do(t, "GET", gw+"/admin/audit", "", nil), 401)
	for field, q := range map[string]string{"action": "action=nope", "from": "from=yesterday", "limit": "limit=0",
		"cursor": "cursor=xyz", "to": "from=2026-11-28&to=2026-11-01"} {
		expectProblem(t, do(t, "GET", gw+"/admin/audit?"+q, admin.AccessToken, nil), 400, field)
	}
	// reading the log is itself in the log
	waitAudit(t, admin.AccessToken, url.Values{"actor": {admin.UserID}, "action": {"admin.audit.read"}}, "the admin's reads",
		func(es []auditEntry) bool { return len(es) > 0 })

	// The chain verifies, with signed checkpoints (every 2 s in this run).
	deadline := time.Now().Add(20 * time.Second)
	v := verifyAudit(t, admin.AccessToken)
	for (!v.OK || v.Checkpoints == 0) && time.Now().Before(deadline) {
		time.Sleep(500 * time.Millisecond)
		v = verifyAudit(t, admin.AccessToken)
	}
	if !v.OK || v.Entries < int64(len(mine)) || v.Checkpoints == 0 {
		t.Fatalf("verify before tampering: %+v", v)
	}

	// Someone with database access turns a's charge into a failure.
	restore := tamperStored(t, "logging", fmt.Sprintf("logging||e|%012d", charged.Seq), `"outcome":"success"`, `"outcome":"failure"`)
	defer restore()
	v = verifyAudit(t, admin.AccessToken)
	if v.OK || v.Broken == nil || v.Broken.Seq != charged.Seq || v.Broken.ID != charged.ID {
		t.Fatalf("verify after tampering with entry %d: %+v", charged.Seq, v)
	}
	t.Logf("verify caught the edited entry %d: %s", v.Broken.Seq, v.Broken.Reason)
}

// tamperStored edits a stored value directly in app's database (SQLite file
// or PostgreSQL table), as an attacker with database access would, and
// returns the function that puts it back.
func tamperStored(t *testing.T, app, key, from, to string) func() {
	t.Helper()
	if os.Getenv("HARMONIA_E2E_RESOURCES_OVERLAY") != "" {
		table := app + "_state"
		psql := func(q string) string {
			out, err := exec.Command("psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "harmonia", "-qAt", "-c", q).CombinedOutput()
			if err != nil {
				t.Fatalf("psql %q: %v\n%s", q, err, out)
			}
			return strings.TrimSpace(string(out))
		}
		edit := func(a, b string) string {
			return psql(fmt.Sprintf(`UPDATE %q SET value = convert_to(replace(convert_from(value, 'UTF8'), '%s', '%s'), 'UTF8') WHERE key = '%s' RETURNING key`,
				table, a, b, key))
		}
		if edit(from, to) != key {
			t.Fatalf("no row %s in %s to tamper with", key, table)
		}
		return func() { edit(to, from) }
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(stack.DataDir, "state", app+".db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	edit := func(a, b string) {
		var value string
		var binary bool
		if err := db.QueryRow(`SELECT value, is_binary FROM state WHERE key = ?`, key).Scan(&value, &binary); err != nil {
			t.Fatalf("no row %s in %s.db: %v", key, app, err)
		}
		plain := value
		if binary {
			b, err := base64.StdEncoding.DecodeString(value)
			if err != nil {
				t.Fatal(err)
			}
			plain = string(b)
		}
		if !strings.Contains(plain, a) {
			t.Fatalf("%s does not hold %s: %s", key, a, plain)
		}
		plain = strings.Replace(plain, a, b, 1)
		if binary {
			plain = base64.StdEncoding.EncodeToString([]byte(plain))
		}
		if _, err := db.Exec(`UPDATE state SET value = ? WHERE key = ?`, plain, key); err != nil {
			t.Fatal(err)
		}
	}
	edit(from, to)
	return func() { edit(to, from); db.Close() }
}
