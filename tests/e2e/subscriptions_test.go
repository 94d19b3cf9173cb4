package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/harmonia-music/harmonia/internal/synth"
)

type subscription struct {
	ID                string `json:"id"`
	Status            string `json:"status"`
	Step              string `json:"step"`
	Outcome           string `json:"outcome"`
	Cycle             int    `json:"cycle"`
	CancelAtPeriodEnd bool   `json:"cancelAtPeriodEnd"`
}

type charge struct {
	ID       string `json:"id"`
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
	Status   string `json:"status"`
	Reason   string `json:"reason"`
}

func addCard(t *testing.T, tok, number string) string {
	t.Helper()
	r := do(t, "POST", gw+"/me/payment-methods", tok, map[string]any{"cardNumber": number, "expMonth": 12, "expYear": 2031, "cvc": "123", "holderName": "Test Listener"})
	expect(t, r, 201)
	var pm struct{ ID, Brand, Last4 string }
	r.json(t, &pm)
	if pm.Last4 != number[len(number)-4:] || strings.Contains(string(r.Body), number) || strings.Contains(string(r.Body), "tok_") {
		t.Fatalf("payment method answer: %s", r.Body)
	}
	return pm.ID
}

func subscribe(t *testing.T, tok, key, plan, pm string) response {
	t.Helper()
	return do(t, "POST", gw+"/subscriptions", tok, map[string]string{"planId": plan, "paymentMethodId": pm}, "Idempotency-Key", key)
}

// settle polls until the checkout left "pending".
func settle(t *testing.T, tok, id string) subscription {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		var s subscription
		r := do(t, "GET", gw+"/subscriptions/"+id, tok, nil)
		if r.Status != 503 { // 503 while a killed app restarts
			expect(t, r, 200)
			r.json(t, &s)
			if s.Status != "pending" {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("checkout still pending at step %q", s.Step)
		}
		time.Sleep(150 * time.Millisecond)
	}
}

func chargesOf(t *testing.T, tok string) []charge {
	t.Helper()
	var out struct{ Items []charge }
	r := do(t, "GET", gw+"/me/payments", tok, nil)
	// the payer's view: no idempotency key, processor reference or attempt counts
	for _, internal := range []string{"idempotencyKey", "processorRef", "attempts", "userId"} {
		if strings.Contains(string(r.Body), `"`+internal+`"`) {
			t.Fatalf("payments history shows the internal field %s: %s", internal, r.Body)
		}
	}
	r.json(t, &out)
	return out.Items
}

func count(cs []charge, status string) int {
	n := 0
	for _, c := range cs {
		if c.Status == status {
			n++
		}
	}
	return n
}

func checkout(t *testing.T, card, key string) (account, subscription) {
	t.Helper()
	a := newAccount(t)
	pm := addCard(t, a.AccessToken, card)
	r := subscribe(t, a.AccessToken, key, "individual", pm)
	expect(t, r, 202)
	var s subscription
	r.json(t, &s)
	if s.Status != "pending" || !strings.HasSuffix(r.Header.Get("Location"), "/api/v1/subscriptions/"+s.ID) {
		t.Fatalf("accepted: %s %v", r.Body, r.Header)
	}
	return a, settle(t, a.AccessToken, s.ID)
}

func TestCheckoutHappyPathUnlocksWholeTracks(t *testing.T) {
	artist, artistID := artistSetup(t)
	albumID := createAlbum(t, artist.AccessToken, artistID, "jazz", "2024-02-02")
	long := synth.WAV(404, 40, 8000)
	trackID := addTrack(t, artist.AccessToken, albumID, 1, long)
	expect(t, do(t, "POST", gw+"/albums/"+albumID+"/publish", artist.AccessToken, nil), 200)

	a, s := checkout(t, "4242424242424242", "happy-"+randomHex(4))
	if s.Status != "active" {
		t.Fatalf("checkout ended %s: %s", s.Status, s.Outcome)
	}
	cs := chargesOf(t, a.AccessToken)
	if len(cs) != 1 || cs[0].Status != "succeeded" || cs[0].Amount != 999 || cs[0].Currency != "EUR" {
		t.Fatalf("charges: %+v", cs)
	}
	var cur subscription
	do(t, "GET", gw+"/me/subscription", a.AccessToken, nil).json(t, &cur)
	if cur.ID != s.ID {
		t.Fatal("me/subscription")
	}
	// the paid plan now streams whole tracks (entitlements are cached briefly)
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := do(t, "GET", gw+"/tracks/"+trackID+"/stream", a.AccessToken, nil)
		if r.Status == 200 && r.Header.Get("X-Harmonia-Preview") == "false" && len(r.Body) == len(long) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still a preview after paying: %v, %d bytes", r.Header.Get("X-Harmonia-Preview"), len(r.Body))
		}
		time.Sleep(300 * time.Millisecond)
	}
	// another user cannot see this subscription
	other := newAccount(t)
	expectProblem(t, do(t, "GET", gw+"/subscriptions/"+s.ID, other.AccessToken, nil), 404, "")
	// one open subscription at a time
	expectProblem(t, subscribe(t, a.AccessToken, "second-"+randomHex(4), "premium", addCard(t, a.AccessToken, "4242424242424242")), 409, "")
}

func TestDeclinedCardsChargeNothing(t *testing.T) {
	for _, c := range []struct{ card, reason string }{{"4000000000000002", "card_declined"}, {"4000000000009995", "insufficient_funds"}} {
		a, s := checkout(t, c.card, "decline-"+randomHex(4))
		if s.Status != "payment_failed" || !strings.Contains(s.Outcome, c.reason) {
			t.Fatalf("%s: %+v", c.card, s)
		}
		cs := chargesOf(t, a.AccessToken)
		if count(cs, "succeeded") != 0 || count(cs, "refunded") != 0 || len(cs) != 1 || cs[0].Status != "declined" {
			t.Fatalf("%s: charges %+v", c.card, cs)
		}
	}
}

func TestFailureAfterTheChargeIsRefunded(t *testing.T) {
	a, s := checkout(t, "4242424242424242", "fail-activation-"+randomHex(4))
	if s.Status != "failed" || !strings.Contains(s.Outcome, "refunded") {
		t.Fatalf("%+v", s)
	}
	cs := chargesOf(t, a.AccessToken)
	if len(cs) != 1 || cs[0].Status != "refunded" || count(cs, "succeeded") != 0 {
		t.Fatalf("net amount must be zero: %+v", cs)
	}
}

func TestTransientProcessorErrorsAreRetried(t *testing.T) {
	a, s := checkout(t, "4000000000000119", "flaky-"+randomHex(4))
	if s.Status != "active" {
		t.Fatalf("%+v", s)
	}
	cs := chargesOf(t, a.AccessToken)
	if len(cs) != 1 || cs[0].Status != "succeeded" {
		t.Fatalf("exactly one charge after two processor errors: %+v", cs)
	}
}

func TestSlowProcessorEndsAndCompensates(t *testing.T) {
	a, s := checkout(t, "4000000000000259", "slow-"+randomHex(4))
	if s.Status != "failed" {
		t.Fatalf("%+v", s)
	}
	cs := chargesOf(t, a.AccessToken)
	if count(cs, "succeeded") != 0 || len(cs) != 1 || cs[0].Status != "voided" {
		t.Fatalf("nothing may stay charged: %+v", cs)
	}
}

func TestSameIdempotencyKeyStartsOneCheckout(t *testing.T) {
	a := newAccount(t)
	pm := addCard(t, a.AccessToken, "4242424242424242")
	key := "same-" + randomHex(4)
	ids := make([]string, 3)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r := subscribe(t, a.AccessToken, key, "individual", pm)
			var s subscription
			if r.Status == 202 {
				_ = json.Unmarshal(r.Body, &s)
			}
			ids[i] = s.ID
		}(i)
	}
	wg.Wait()
	if ids[0] == "" || ids[0] != ids[1] || ids[1] != ids[2] {
		t.Fatalf("one key, several subscriptions: %v", ids)
	}
	settle(t, a.AccessToken, ids[0])
	if cs := chargesOf(t, a.AccessToken); len(cs) != 1 {
		t.Fatalf("charges: %+v", cs)
	}
	expect(t, subscribe(t, a.AccessToken, key, "individual", pm), 202) // again, later: still the same one
	if cs := chargesOf(t, a.AccessToken); len(cs) != 1 {
		t.Fatalf("charges after a repeat: %+v", cs)
	}
}

func TestSubscriptionInputIsChecked(t *testing.T) {
	a := newAccount(t)
	pm := addCard(t, a.AccessToken, "4242424242424242")
	expectProblem(t, do(t, "POST", gw+"/subscriptions", a.AccessToken, map[string]string{"planId": "individual", "paymentMethodId": pm}), 400, "Idempotency-Key")
	expectProblem(t, subscribe(t, a.AccessToken, "k-"+randomHex(3), "platinum", pm), 400, "planId")
	expectProblem(t, subscribe(t, a.AccessToken, "k-"+randomHex(3), "free", pm), 400, "planId")
	expectProblem(t, subscribe(t, a.AccessToken, "k-"+randomHex(3), "individual", "nope"), 400, "paymentMethodId")
	card := func(number string, m, y int, cvc string) map[string]any {
		return map[string]any{"cardNumber": number, "expMonth": m, "expYear": y, "cvc": cvc, "holderName": "X"}
	}
	for _, c := range []struct {
		body  map[string]any
		field string
	}{
		{card("4242424242424241", 12, 2031, "123"), "cardNumber"},
		{card("4242424242424242", 13, 2031, "123"), "expMonth"},
		{card("4242424242424242", 1, 2020, "123"), "expYear"},
		{card("4242424242424242", 12, 2031, "12a"), "cvc"},
	} {
		expectProblem(t, do(t, "POST", gw+"/me/payment-methods", a.AccessToken, c.body), 400, c.field)
	}
	// someone else's payment method cannot pay for you
	b := newAccount(t)
	_, s := func() (account, subscription) {
		r := subscribe(t, b.AccessToken, "theirs-"+randomHex(3), "individual", pm)
		expect(t, r, 202)
		var s subscription
		r.json(t, &s)
		return b, settle(t, b.AccessToken, s.ID)
	}()
	if s.Status == "active" || count(chargesOf(t, a.AccessToken), "succeeded") != 0 {
		t.Fatalf("paid with another user's card: %+v", s)
	}
}

func TestOnlySubscriptionsMayCharge(t *testing.T) {
	for _, app := range []string{"gateway", "albums", "playlists"} {
		var port int
		var token string
		for _, a := range stack.Apps {
			if a.AppID == app {
				port, token = a.DaprHTTPPort, a.DaprAPIToken
			}
		}
		r := do(t, "POST", fmt.Sprintf("http://127.0.0.1:%d/internal/charges", port), "", map[string]any{"idempotencyKey": "x", "amount": 1},
			"dapr-app-id", "payments", "dapr-api-token", token)
		if r.Status != 403 || !strings.Contains(string(r.Body), "PermissionDenied") {
			t.Fatalf("%s's sidecar let it call the charge endpoint: %d %s", app, r.Status, r.Body)
		}
	}
	a := newAccount(t)
	expectProblem(t, do(t, "POST", gw+"/../internal/charges", a.AccessToken, map[string]any{}), 404, "")
}

func TestRenewalChargesAgainAndCancelStopsIt(t *testing.T) {
	a, s := checkout(t, "4242424242424242", "short-period-"+randomHex(4))
	if s.Status != "active" {
		t.Fatalf("%+v", s)
	}
	deadline := time.Now().Add(40 * time.Second)
	for count(chargesOf(t, a.AccessToken), "succeeded") < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("no renewal charge: %+v", chargesOf(t, a.AccessToken))
		}
		time.Sleep(300 * time.Millisecond)
	}
	r := do(t, "POST", gw+"/subscriptions/"+s.ID+"/cancel", a.AccessToken, nil)
	expect(t, r, 200)
	r.json(t, &s)
	if !s.CancelAtPeriodEnd {
		t.Fatalf("%s", r.Body)
	}
	charged := count(chargesOf(t, a.AccessToken), "succeeded")
	for deadline = time.Now().Add(40 * time.Second); ; {
		do(t, "GET", gw+"/subscriptions/"+s.ID, a.AccessToken, nil).json(t, &s)
		if s.Status == "cancelled" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never cancelled: %+v", s)
		}
		time.Sleep(300 * time.Millisecond)
	}
	time.Sleep(4 * time.Second) // longer than a period: no renewal may follow
	if n := count(chargesOf(t, a.AccessToken), "succeeded"); n != charged {
		t.Fatalf("charged %d times after cancelling (was %d)", n, charged)
	}
}

// kill -9 an app mid-checkout; the launcher (-restart) starts it again.
func killApp(t *testing.T, app string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(stack.DataDir, "run", "stack.json"))
	if err != nil {
		t.Fatal(err)
	}
	var info stackInfo
	_ = json.Unmarshal(b, &info)
	for _, a := range info.Apps {
		if a.AppID == app {
			if err := syscall.Kill(a.AppPID, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatalf("no %s in stack.json", app)
}

func TestCrashMidCheckoutChargesOnce(t *testing.T) {
	for _, app := range []string{"subscriptions", "payments"} {
		t.Run(app, func(t *testing.T) {
			a := newAccount(t)
			pm := addCard(t, a.AccessToken, "4000000000000119") // two processor errors: the checkout takes a while
			r := subscribe(t, a.AccessToken, "crash-"+randomHex(4), "individual", pm)
			expect(t, r, 202)
			var s subscription
			r.json(t, &s)
			killApp(t, app)
			s = settle(t, a.AccessToken, s.ID)
			cs := chargesOf(t, a.AccessToken)
			if s.Status != "active" || count(cs, "succeeded") != 1 || len(cs) != 1 {
				t.Fatalf("after killing %s: %+v, charges %+v", app, s, cs)
			}
		})
	}
}

func TestFamilyMembersHearWholeTracks(t *testing.T) {
	artist, artistID := artistSetup(t)
	albumID := createAlbum(t, artist.AccessToken, artistID, "soul", "2022-06-06")
	long := synth.WAV(505, 35, 8000)
	trackID := addTrack(t, artist.AccessToken, albumID, 1, long)
	expect(t, do(t, "POST", gw+"/albums/"+albumID+"/publish", artist.AccessToken, nil), 200)

	owner := newAccount(t)
	kid := newAccount(t)
	r := subscribe(t, owner.AccessToken, "family-"+randomHex(4), "family", addCard(t, owner.AccessToken, "4242424242424242"))
	expect(t, r, 202)
	var s subscription
	r.json(t, &s)
	if s = settle(t, owner.AccessToken, s.ID); s.Status != "active" {
		t.Fatalf("%+v", s)
	}
	// only the owner invites; an address is checked; an invitation alone gives nothing
	expectProblem(t, do(t, "POST", gw+"/subscriptions/"+s.ID+"/members", kid.AccessToken, map[string]string{"email": kid.Email}), 404, "")
	expectProblem(t, do(t, "POST", gw+"/subscriptions/"+s.ID+"/members", owner.AccessToken, map[string]string{"email": "nope"}), 400, "email")
	r = do(t, "POST", gw+"/subscriptions/"+s.ID+"/members", owner.AccessToken, map[string]string{"email": kid.Email})
	expect(t, r, 201)
	var inv struct{ ID, Email, Status string }
	r.json(t, &inv)
	if inv.Status != "pending" || inv.Email != kid.Email {
		t.Fatalf("invitation: %s", r.Body)
	}
	// notifications: the owner has a receipt naming plan and amount, the
	// invitee the invitation by email and in-app
	receipt := waitMail(t, owner.Email, "Your Harmonia receipt: Family")
	if html := mailHTML(t, receipt.ID); !strings.Contains(html, "15.99 EUR") {
		t.Fatalf("receipt without its amount:\n%s", html)
	}
	waitMail(t, kid.Email, "invited to a Harmonia family plan")
	waitInbox(t, kid.AccessToken, "invitation")
	if st := do(t, "GET", gw+"/tracks/"+trackID+"/stream", kid.AccessToken, nil); st.Header.Get("X-Harmonia-Preview") != "true" {
		t.Fatal("an invitation alone gave the plan")
	}
	// a second account can neither see nor accept it
	eve := newAccount(t)
	if r := do(t, "GET", gw+"/me/invitations", eve.AccessToken, nil); r.Status != 200 || strings.Contains(string(r.Body), inv.ID) {
		t.Fatalf("someone else's invitations: %d %s", r.Status, r.Body)
	}
	expectProblem(t, do(t, "POST", gw+"/me/invitations/"+inv.ID+"/accept", eve.AccessToken, nil), 404, "")
	expectProblem(t, do(t, "POST", gw+"/me/invitations/not-an-id/accept", kid.AccessToken, nil), 400, "id")
	// the invitee sees it and accepts
	if r := do(t, "GET", gw+"/me/invitations", kid.AccessToken, nil); !strings.Contains(string(r.Body), inv.ID) {
		t.Fatalf("the invitee does not see the invitation: %s", r.Body)
	}
	expect(t, do(t, "POST", gw+"/me/invitations/"+inv.ID+"/accept", kid.AccessToken, nil), 200)
	whole := func() bool {
		r := do(t, "GET", gw+"/tracks/"+trackID+"/stream", kid.AccessToken, nil)
		return r.Status == 200 && r.Header.Get("X-Harmonia-Preview") == "false" && len(r.Body) == len(long)
	}
	deadline := time.Now().Add(20 * time.Second)
	for !whole() {
		if time.Now().After(deadline) {
			t.Fatal("a family member still hears previews")
		}
		time.Sleep(300 * time.Millisecond)
	}
	// another listener's plan cannot strip the member; the owner can
	expectProblem(t, do(t, "DELETE", gw+"/subscriptions/"+s.ID+"/members/"+kid.UserID, eve.AccessToken, nil), 404, "")
	expectProblem(t, do(t, "DELETE", gw+"/subscriptions/"+s.ID+"/members/not-an-id", owner.AccessToken, nil), 400, "userId")
	expectProblem(t, do(t, "POST", gw+"/subscriptions/"+s.ID+"/members", owner.AccessToken, map[string]string{"email": kid.Email, "role": "x"}), 400, "")
	expect(t, do(t, "DELETE", gw+"/subscriptions/"+s.ID+"/members/"+kid.UserID, owner.AccessToken, nil), 200)
	for deadline = time.Now().Add(20 * time.Second); whole(); {
		if time.Now().After(deadline) {
			t.Fatal("a removed member still hears whole tracks")
		}
		time.Sleep(300 * time.Millisecond)
	}
	expectProblem(t, do(t, "DELETE", gw+"/me/membership", kid.AccessToken, nil), 404, "")
}
