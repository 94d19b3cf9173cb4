package e2e

import (
	"database/sql"
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
// needles: each SQLite file under the stack's data directory (every column,
// as text) and, on the PostgreSQL component set, every table of the
// harmonia database (each row as text).
func storesHolding(t *testing.T, needles ...string) []string {
	t.Helper()
	var found []string
	files, _ := filepath.Glob(filepath.Join(stack.DataDir, "state", "*.db"))
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
			for _, n := range needles {
				var conds []string
				for _, c := range cols {
					conds = append(conds, fmt.Sprintf("instr(CAST(%q AS TEXT), ?) > 0", c))
				}
				args := make([]any, len(cols))
				for i := range args {
					args[i] = n
				}
				var hits int
				q := fmt.Sprintf("SELECT count(*) FROM %q WHERE %s", table, strings.Join(conds, " OR "))
				if err := db.QueryRow(q, args...).Scan(&hits); err != nil {
					db.Close()
					t.Fatalf("%s %s: %v", f, table, err)
				}
				if hits > 0 {
					found = append(found, fmt.Sprintf("%s/%s: %d rows hold %q", filepath.Base(f), table, hits, n))
				}
			}
		}
		db.Close()
	}
	if os.Getenv("HARMONIA_E2E_RESOURCES_OVERLAY") != "" {
		psql := func(q string) []string {
			out, err := exec.Command("psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "harmonia", "-qtAc", q).CombinedOutput()
			if err != nil {
				t.Fatalf("psql %q: %v\n%s", q, err, out)
			}
			return strings.Fields(string(out))
		}
		tables := psql("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'")
		if len(tables) == 0 {
			t.Fatal("no PostgreSQL tables: the scan would pass without looking")
		}
		for _, table := range tables {
			for _, n := range needles {
				q := fmt.Sprintf(`SELECT count(*) FROM %q t WHERE strpos(t::text, '%s') > 0`, table, strings.ReplaceAll(n, "'", "''"))
				if c := psql(q); len(c) == 1 && c[0] != "0" {
					found = append(found, fmt.Sprintf("postgres %s: %s rows hold %q", table, c[0], n))
				}
			}
		}
	} else if len(files) < 6 {
		t.Fatalf("found %d SQLite stores under %s: the scan would pass without looking", len(files), stack.DataDir)
	}
	return found
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
