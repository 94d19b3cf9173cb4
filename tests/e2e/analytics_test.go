package e2e

import (
	"encoding/csv"
	"encoding/xml"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type analyticsReport struct {
	Report  string `json:"report"`
	GroupBy string `json:"groupBy"`
	From    string `json:"from"`
	To      string `json:"to"`
	Series  []struct {
		Key    string `json:"key"`
		Total  int64  `json:"total"`
		Points []struct {
			Day   string `json:"day"`
			Value int64  `json:"value"`
		} `json:"points"`
	} `json:"series"`
}

func (r analyticsReport) total(key string) int64 {
	for _, s := range r.Series {
		if s.Key == key {
			return s.Total
		}
	}
	return 0
}

func analytics(t *testing.T, tok, report string, q url.Values) analyticsReport {
	t.Helper()
	r := do(t, "GET", gw+"/admin/analytics/"+report+"?"+q.Encode(), tok, nil)
	expect(t, r, 200)
	var out analyticsReport
	r.json(t, &out)
	return out
}

// waitReport polls a report until ok holds, then checks it still holds a
// moment later (nothing counted twice arrives after).
func waitReport(t *testing.T, tok, report string, q url.Values, what string, ok func(analyticsReport) bool) analyticsReport {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := analytics(t, tok, report, q)
		if ok(r) {
			time.Sleep(1500 * time.Millisecond)
			if r = analytics(t, tok, report, q); !ok(r) {
				t.Fatalf("%s held, then no more: %+v", what, r)
			}
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("the %s report never showed %s: %+v", report, what, r)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// listenerOf registers a listener with a country and a birth year.
func listenerOf(t *testing.T, country string, birthYear int) account {
	t.Helper()
	email := "e2e-" + randomHex(6) + "@example.com"
	pw := "pw-" + randomHex(8)
	r := do(t, "POST", gw+"/auth/register", "", map[string]any{"email": email, "password": pw,
		"displayName": "Listener " + country, "country": country, "birthYear": birthYear})
	expect(t, r, 201)
	var tk tokens
	r.json(t, &tk)
	return account{Email: email, Password: pw, tokens: tk}
}

// Plays from three listeners of different countries, devices and ages, a
// premium checkout and a premium checkout refunded after its charge give
// exact counts in every report; only admins read them; CSV and SVG answer
// with their content types, and the SVG is XML with one path per series.
func TestAnalyticsCountsPlaysListenersSubscriptionsAndRevenueExactly(t *testing.T) {
	admin := adminTokens(t)
	today := time.Now().UTC().Format("2006-01-02")
	day := url.Values{"from": {today}, "to": {today}}
	with := func(kv ...string) url.Values {
		q := url.Values{"from": {today}, "to": {today}}
		for i := 0; i+1 < len(kv); i += 2 {
			q.Set(kv[i], kv[i+1])
		}
		return q
	}
	albumID, trackID := publishAlbum(t, "Tallies "+randomHex(3))
	young := listenerOf(t, "IS", time.Now().Year()-16) // under-18
	mid := listenerOf(t, "NZ", time.Now().Year()-30)   // 25-34
	old := listenerOf(t, "UY", time.Now().Year()-70)   // 65+
	stream := func(a account, client string) {
		r := do(t, "GET", gw+"/tracks/"+trackID+"/stream", a.AccessToken, nil, "X-Harmonia-Client", client)
		expect(t, r, 200)
	}
	stream(young, "mobile")
	stream(young, "mobile") // a second play: counted as a play, not as a second listener
	stream(mid, "web")
	r := do(t, "GET", gw+"/tracks/"+trackID+"/stream", old.AccessToken, nil,
		"User-Agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Harmonia/1.0 Electron/28") // desktop, from its User-Agent
	expect(t, r, 200)
	do(t, "GET", gw+"/tracks/"+trackID+"/stream", mid.AccessToken, nil, "Range", "bytes=100-200") // a range mid-track: no play

	waitReport(t, admin.AccessToken, "plays", with("groupBy", "track", "top", "100"), "4 plays of the track", func(r analyticsReport) bool {
		return r.total(trackID) == 4
	})
	if r := analytics(t, admin.AccessToken, "plays", with("groupBy", "album", "top", "100")); r.total(albumID) != 4 {
		t.Fatalf("plays by album: %d", r.total(albumID))
	}
	countries := analytics(t, admin.AccessToken, "listeners", with("groupBy", "country", "top", "100"))
	for _, c := range []string{"IS", "NZ", "UY"} {
		if countries.total(c) != 1 {
			t.Fatalf("listeners from %s: %d (%+v)", c, countries.total(c), countries.Series)
		}
	}
	devices := analytics(t, admin.AccessToken, "listeners", with("groupBy", "device"))
	for _, d := range []string{"mobile", "web", "desktop"} { // other tests' listeners use Go's client: "other"
		if devices.total(d) != 1 {
			t.Fatalf("listeners on %s: %d (%+v)", d, devices.total(d), devices.Series)
		}
	}
	bands := analytics(t, admin.AccessToken, "listeners", with("groupBy", "ageBand"))
	for _, b := range []string{"under-18", "25-34", "65+"} { // other tests' listeners were born in 1990: 35-44
		if bands.total(b) != 1 {
			t.Fatalf("listeners aged %s: %d (%+v)", b, bands.total(b), bands.Series)
		}
	}

	// premium is this test's plan alone: one paid checkout, one refunded after its charge
	buyer := newAccount(t)
	r = subscribe(t, buyer.AccessToken, "analytics-"+randomHex(4), "premium", addCard(t, buyer.AccessToken, "4242424242424242"))
	expect(t, r, 202)
	var sub subscription
	r.json(t, &sub)
	if s := settle(t, buyer.AccessToken, sub.ID); s.Status != "active" {
		t.Fatalf("premium checkout: %+v", s)
	}
	unlucky := newAccount(t)
	r = subscribe(t, unlucky.AccessToken, "fail-activation-"+randomHex(4), "premium", addCard(t, unlucky.AccessToken, "4242424242424242"))
	expect(t, r, 202)
	r.json(t, &sub)
	if s := settle(t, unlucky.AccessToken, sub.ID); s.Status != "failed" {
		t.Fatalf("the refunded checkout: %+v", s)
	}
	if cs := chargesOf(t, unlucky.AccessToken); len(cs) != 1 || cs[0].Status != "refunded" {
		t.Fatalf("the unlucky buyer's charges: %+v", cs)
	}
	waitReport(t, admin.AccessToken, "subscriptions", with("metric", "new"), "one new premium subscription", func(r analyticsReport) bool {
		return r.total("premium") == 1
	})
	// the refund comes after the second charge: wait for both, then exactly the one price
	waitReport(t, admin.AccessToken, "revenue", day, "the premium price once (a charge and a refund cancel out)", func(r analyticsReport) bool {
		return r.total("premium EUR") == 1299
	})

	// only admins; bad input names the field
	expect(t, do(t, "GET", gw+"/admin/analytics/plays", buyer.AccessToken, nil), 403)
	expect(t, do(t, "GET", gw+"/admin/analytics/plays", "", nil), 401)
	expect(t, do(t, "GET", gw+"/admin/analytics/nope", admin.AccessToken, nil), 404)
	for field, q := range map[string]string{"groupBy": "groupBy=plan", "format": "format=pdf", "to": "from=2026-11-10&to=2026-11-01",
		"from": "from=2024-01-01&to=2026-01-01", "metric": "metric=new"} {
		expectProblem(t, do(t, "GET", gw+"/admin/analytics/plays?"+q, admin.AccessToken, nil), 400, field)
	}

	// CSV for spreadsheets, SVG for people
	q := with("groupBy", "track", "top", "100", "format", "csv")
	r = do(t, "GET", gw+"/admin/analytics/plays?"+q.Encode(), admin.AccessToken, nil)
	expect(t, r, 200)
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("CSV content type %q", r.Header.Get("Content-Type"))
	}
	rows, err := csv.NewReader(strings.NewReader(string(r.Body))).ReadAll()
	if err != nil || len(rows) < 2 || strings.Join(rows[0], ",") != "day,track,value" {
		t.Fatalf("CSV: %v %q", err, r.Body)
	}
	found := false
	for _, row := range rows[1:] {
		found = found || (row[0] == today && row[1] == trackID && row[2] == "4")
	}
	if !found {
		t.Fatalf("the CSV has no row %s,%s,4:\n%s", today, trackID, r.Body)
	}
	json := analytics(t, admin.AccessToken, "listeners", url.Values{"groupBy": {"country"}})
	r = do(t, "GET", gw+"/admin/analytics/listeners?groupBy=country&format=svg", admin.AccessToken, nil)
	expect(t, r, 200)
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "image/svg+xml") {
		t.Fatalf("SVG content type %q", r.Header.Get("Content-Type"))
	}
	var doc struct {
		XMLName xml.Name
		Paths   []struct {
			D string `xml:"d,attr"`
		} `xml:"path"`
	}
	if err := xml.Unmarshal(r.Body, &doc); err != nil || doc.XMLName.Local != "svg" {
		t.Fatalf("the chart is not SVG: %v", err)
	}
	if len(doc.Paths) != len(json.Series) || len(json.Series) < 3 || len(json.Series[0].Points) != 30 {
		t.Fatalf("the chart has %d paths for %d series (%d days)", len(doc.Paths), len(json.Series), len(json.Series[0].Points))
	}

	// every consumed event is in the raw export, as NDJSON
	deadline := time.Now().Add(10 * time.Second)
	for {
		files, _ := filepath.Glob(filepath.Join(stack.DataDir, "analytics-export", "*.ndjson"))
		n := 0
		for _, f := range files {
			b, _ := os.ReadFile(f)
			n += strings.Count(string(b), fmt.Sprintf(`"trackId":%q`, trackID))
		}
		if n >= 4 { // a batch exported and then not committed is exported again: a warehouse keeps one per id
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the export holds %d of the track's 4 plays (%d files)", n, len(files))
		}
		time.Sleep(200 * time.Millisecond)
	}
}
