package e2e

import (
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite" // reads the SQLite state stores' files
)

// storesHolding lists every table row of every state store that holds one of
// needles: each SQLite file under the stack's data directory and, on the
// PostgreSQL component set, every table of the harmonia database. Every
// column of every row is read as text and, where it decodes, as base64 or
// hex too (Dapr stores a binary value base64-encoded in SQLite and as bytea
// in PostgreSQL), so a value is found however the store keeps it.
func storesHolding(t *testing.T, needles ...string) []string {
	t.Helper()
	return storesHoldingIn(t, "", needles...)
}

// storesHoldingIn looks only in one app's store when app is set (its
// SQLite file <app>.db, or its PostgreSQL tables <app>_*).
func storesHoldingIn(t *testing.T, app string, needles ...string) []string {
	t.Helper()
	var found []string
	check := func(where string, cells []string) {
		for _, n := range needles {
			for _, c := range cells {
				if cellHolds(c, n) {
					found = append(found, fmt.Sprintf("%s holds %q", where, n))
					break
				}
			}
		}
	}
	pattern := "*.db"
	if app != "" {
		pattern = app + ".db"
	}
	files, _ := filepath.Glob(filepath.Join(stack.DataDir, "state", pattern))
	for _, f := range files {
		db, err := sql.Open("sqlite", "file:"+f+"?mode=ro&_pragma=busy_timeout(5000)")
		if err != nil {
			t.Fatal(err)
		}
		tables, err := sqliteTables(db)
		if err != nil {
			db.Close()
			t.Fatalf("%s: %v", f, err)
		}
		for table, cols := range tables {
			sel := make([]string, len(cols))
			for i, c := range cols {
				sel[i] = fmt.Sprintf("CAST(%q AS TEXT)", c)
			}
			rows, err := db.Query(fmt.Sprintf("SELECT %s FROM %q", strings.Join(sel, ", "), table))
			if err != nil {
				db.Close()
				t.Fatalf("%s %s: %v", f, table, err)
			}
			for rows.Next() {
				cells := make([]sql.NullString, len(cols))
				ptrs := make([]any, len(cols))
				for i := range cells {
					ptrs[i] = &cells[i]
				}
				if err := rows.Scan(ptrs...); err != nil {
					rows.Close()
					db.Close()
					t.Fatal(err)
				}
				texts := make([]string, len(cells))
				for i, c := range cells {
					texts[i] = c.String
				}
				check(filepath.Base(f)+"/"+table+" row "+texts[0], texts)
			}
			rows.Close()
		}
		db.Close()
	}
	if os.Getenv("HARMONIA_E2E_RESOURCES_OVERLAY") != "" {
		psql := func(q string) string {
			out, err := exec.Command("psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "harmonia", "-qAt", "-F", "\x1f", "-c", q).CombinedOutput()
			if err != nil {
				t.Fatalf("psql %q: %v\n%s", q, err, out)
			}
			return string(out)
		}
		tables := strings.Fields(psql("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"))
		if len(tables) == 0 {
			t.Fatal("no PostgreSQL tables: the scan would pass without looking")
		}
		for _, table := range tables {
			if app != "" && !strings.HasPrefix(table, app+"_") {
				continue
			}
			for _, line := range strings.Split(psql(fmt.Sprintf("SELECT * FROM %q", table)), "\n") {
				if line != "" {
					cells := strings.Split(line, "\x1f")
					check("postgres "+table+" row "+cells[0], cells)
				}
			}
		}
	} else if len(files) < 6 && app == "" || len(files) == 0 {
		t.Fatalf("found %d SQLite stores under %s: the scan would pass without looking", len(files), stack.DataDir)
	}
	return found
}

// cellHolds reports whether a cell holds s as it is, base64-decoded, or
// hex-decoded (PostgreSQL's bytea text form, \x…).
func cellHolds(cell, s string) bool {
	if strings.Contains(cell, s) {
		return true
	}
	if b, err := base64.StdEncoding.DecodeString(cell); err == nil && strings.Contains(string(b), s) {
		return true
	}
	if h, ok := strings.CutPrefix(cell, "\\x"); ok {
		if b, err := hex.DecodeString(h); err == nil && strings.Contains(string(b), s) {
			return true
		}
	}
	return false
}

// An account with everything a listener accumulates — a profile with a phone,
// a card in their name, a family plan with an invitation they sent, an
// invitation they received, a playlist, a followed artist — is deleted.
// Afterwards no state store (SQLite here, PostgreSQL under make
// test-postgres) holds their email, name or phone; their plan no longer
// renews; the invitation they sent is gone from the invitee's list.
func TestDeletedAccountLeavesNoPersonalDataInAnyStore(t *testing.T) {
	a := newAccount(t)
	name := "Zoltan Deletable " + randomHex(4)
	phone := "+35191" + fmt.Sprint(1000000+time.Now().UnixNano()%8999999)
	expect(t, do(t, "PATCH", gw+"/me", a.AccessToken, map[string]any{"displayName": name, "phone": phone}), 200)
	r := do(t, "POST", gw+"/me/payment-methods", a.AccessToken, map[string]any{"cardNumber": "4242424242424242",
		"expMonth": 12, "expYear": 2031, "cvc": "123", "holderName": name})
	expect(t, r, 201)
	var pm struct{ ID string }
	r.json(t, &pm)
	r = subscribe(t, a.AccessToken, "del-"+randomHex(4), "family", pm.ID)
	expect(t, r, 202)
	var sub subscription
	r.json(t, &sub)
	if s := settle(t, a.AccessToken, sub.ID); s.Status != "active" {
		t.Fatalf("checkout: %+v", s)
	}
	invitee := newAccount(t)
	expect(t, do(t, "POST", gw+"/subscriptions/"+sub.ID+"/members", a.AccessToken, map[string]string{"email": invitee.Email}), 201)
	stranger := "nobody-" + randomHex(4) + "@example.com" // an address with no account, kept only in the invitation
	expect(t, do(t, "POST", gw+"/subscriptions/"+sub.ID+"/members", a.AccessToken, map[string]string{"email": stranger}), 201)

	// someone else's family invites a
	famOwner := newAccount(t)
	fpm := addCard(t, famOwner.AccessToken, "4242424242424242")
	r = subscribe(t, famOwner.AccessToken, "del-fam-"+randomHex(4), "family", fpm)
	expect(t, r, 202)
	var fam subscription
	r.json(t, &fam)
	settle(t, famOwner.AccessToken, fam.ID)
	expect(t, do(t, "POST", gw+"/subscriptions/"+fam.ID+"/members", famOwner.AccessToken, map[string]string{"email": a.Email}), 201)

	expect(t, do(t, "POST", gw+"/playlists", a.AccessToken, map[string]any{"name": name + "'s mix"}), 201)
	if before := storesHolding(t, a.Email, name, phone); len(before) < 4 {
		t.Fatalf("the scan found the account in only %v before the deletion: it does not look where the data is", before)
	}

	expect(t, do(t, "DELETE", gw+"/me", a.AccessToken, nil), 204)
	start := time.Now()
	var left []string
	for {
		left = storesHolding(t, a.Email, name, phone, stranger)
		if len(left) == 0 || time.Since(start) > 60*time.Second {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if len(left) > 0 {
		t.Fatalf("personal data left %s after the deletion:\n%s", time.Since(start).Round(time.Millisecond), strings.Join(left, "\n"))
	}
	t.Logf("every store was free of the account %s after DELETE /me", time.Since(start).Round(time.Millisecond))

	// The plan stops renewing (the still-valid access token reads it) and
	// the invitee no longer sees the deleted owner's invitation.
	var s subscription
	do(t, "GET", gw+"/subscriptions/"+sub.ID, a.AccessToken, nil).json(t, &s)
	if !s.CancelAtPeriodEnd {
		t.Fatalf("the deleted owner's plan still renews: %+v", s)
	}
	var invs struct {
		Items []struct{ SubscriptionID string }
	}
	do(t, "GET", gw+"/me/invitations", invitee.AccessToken, nil).json(t, &invs)
	for _, i := range invs.Items {
		if i.SubscriptionID == sub.ID {
			t.Fatal("the invitee still sees the deleted owner's invitation")
		}
	}
	var methods struct{ Items []any }
	do(t, "GET", gw+"/me/payment-methods", a.AccessToken, nil).json(t, &methods)
	if len(methods.Items) != 0 {
		t.Fatal("the deleted account's payment methods remain", methods.Items)
	}
}

// users stops (exit 3, a test hook) right after auth deleted the
// credentials and before its own transaction: the half-deleted account is
// the orphan to avoid. The launcher restarts users (as Kubernetes would) and
// users finishes the deletion on its own: the profile goes and user.deleted
// reaches the other services (the playlist goes), with no client retry.
func TestUsersStoppedBetweenTheTwoDeletesFinishesOnRestart(t *testing.T) {
	a := newAccount(t)
	const crashName = "crash-after-account-delete" // apps/users/internal/app.CrashName
	expect(t, do(t, "PATCH", gw+"/me", a.AccessToken, map[string]any{"displayName": crashName}), 200)
	r := do(t, "POST", gw+"/playlists", a.AccessToken, map[string]any{"name": "orphan check " + randomHex(3)})
	expect(t, r, 201)
	var pl struct{ ID string }
	r.json(t, &pl)
	r = do(t, "DELETE", gw+"/me", a.AccessToken, nil)
	t.Logf("DELETE /me while users stops: %d (the gateway's retries may reach the restarted users)", r.Status)
	if b, _ := os.ReadFile(filepath.Join(stack.DataDir, "logs", "users.log")); !strings.Contains(string(b), "stopping between the two deletes") {
		t.Fatal("users did not stop between the two deletes (no hook in its log): this test would prove nothing")
	}
	expectProblem(t, login(t, a.Email, a.Password), 401, "")
	start := time.Now()
	for {
		me := do(t, "GET", gw+"/me", a.AccessToken, nil).Status
		left := storesHolding(t, a.Email)
		plStatus := do(t, "GET", gw+"/playlists/"+pl.ID, a.AccessToken, nil).Status
		if me == 404 && len(left) == 0 && plStatus == 404 {
			break
		}
		if time.Since(start) > 90*time.Second {
			t.Fatalf("not finished after users restarted: GET /me %d, playlist %d, stores %v", me, plStatus, left)
		}
		time.Sleep(time.Second)
	}
	t.Logf("users finished the deletion %s after it stopped", time.Since(start).Round(time.Millisecond))
}

func sqliteTables(db *sql.DB) (map[string][]string, error) {
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table'`)
	if err != nil {
		return nil, err
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return nil, err
		}
		names = append(names, n)
	}
	rows.Close()
	out := map[string][]string{}
	for _, n := range names {
		cr, err := db.Query(fmt.Sprintf("SELECT name FROM pragma_table_info(%q)", n))
		if err != nil {
			return nil, err
		}
		for cr.Next() {
			var c string
			if err := cr.Scan(&c); err != nil {
				cr.Close()
				return nil, err
			}
			out[n] = append(out[n], c)
		}
		cr.Close()
	}
	return out, nil
}
