package events

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

func TestEventsDocIsCurrent(t *testing.T) {
	b, err := os.ReadFile("../../docs/events.md")
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != Markdown() {
		t.Fatal("docs/events.md is stale: run 'make docs' (go run ./cmd/eventsdoc) and commit it")
	}
}

func TestCatalogHasOneTypePerTopic(t *testing.T) {
	seen := map[string]string{}
	for _, s := range Catalog {
		topic, name := s.Event.Topic(), TypeName(s.Event)
		if prev, ok := seen[topic]; ok {
			t.Errorf("topic %s has two types: %s and %s", topic, prev, name)
		}
		seen[topic] = name
		if s.Doc == "" || s.Version < 1 {
			t.Errorf("%s: needs a doc and a version", topic)
		}
		for _, f := range fields(reflect.TypeOf(s.Event)) {
			if f.name == "" || f.name[0] < 'a' || f.name[0] > 'z' {
				t.Errorf("%s: field %q needs a camelCase json name", topic, f.name)
			}
		}
	}
	// DESIGN.md's list of events, and the two notifications added
	// (artist.unfollowed keeps follower lists right; notifications.delivered
	// is its own broadcast to its replicas)
	want := []string{"user.registered", "user.updated", "user.deleted", "artist.created", "artist.updated",
		"artist.followed", "artist.unfollowed", "notifications.delivered", "album.published", "album.updated", "track.played", "playlist.changed", "playlist.deleted",
		"subscription.activated", "subscription.renewed", "subscription.payment_failed", "subscription.cancelled",
		"subscription.expired", "payment.succeeded", "payment.failed", "payment.refunded", "member.invited",
		"offer.published", "audit.recorded"}
	for _, w := range want {
		if _, ok := seen[w]; !ok {
			t.Errorf("no contract for %s", w)
		}
	}
	if len(seen) != len(want) {
		t.Errorf("%d contracts, DESIGN lists %d: update both", len(seen), len(want))
	}
}

func TestValidateNamesTheMissingField(t *testing.T) {
	err := Validate(PaymentRefunded{Charge{ChargeID: "c", IdempotencyKey: "k", UserID: "u", Status: "refunded", At: time.Now()}})
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), `"currency"`) {
		t.Fatalf("embedded required field not checked: %v", err)
	}
	if err := Validate(UserDeleted{UserID: "u", DeletedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
}

// The catalogue's publishers and subscribers are what the apps' code does:
// an app publishes an event when its code builds that contract
// (events.X{...}), and subscribes when it registers pubsub.On for it.
func TestCatalogMatchesTheApps(t *testing.T) {
	byName := map[string]Spec{}
	for _, s := range Catalog {
		byName[TypeName(s.Event)] = s
	}
	literal := regexp.MustCompile(`events\.(\w+)\{`)
	recorder := regexp.MustCompile(`audit\.New\(`) // the audit helper publishes audit.recorded
	handler := regexp.MustCompile(`pubsub\.On\(\s*\w+,\s*\w+,\s*func\(\w+ context\.Context, \w+ events\.(\w+)\)`)
	pubs, subs := map[string][]string{}, map[string][]string{}
	files, _ := filepath.Glob("../../apps/*/internal/*/*.go")
	more, _ := filepath.Glob("../../apps/*/*.go")
	for _, f := range append(files, more...) {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		app := strings.Split(filepath.ToSlash(f), "/")[3]
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range literal.FindAllStringSubmatch(string(b), -1) {
			if s, ok := byName[m[1]]; ok {
				pubs[s.Event.Topic()] = appendOnce(pubs[s.Event.Topic()], app)
			}
		}
		if recorder.MatchString(string(b)) {
			pubs[TopicAuditRecorded] = appendOnce(pubs[TopicAuditRecorded], app)
		}
		for _, m := range handler.FindAllStringSubmatch(string(b), -1) {
			if s, ok := byName[m[1]]; ok {
				subs[s.Event.Topic()] = appendOnce(subs[s.Event.Topic()], app)
			}
		}
	}
	if len(pubs) == 0 || len(subs) == 0 {
		t.Fatal("found no publisher or no subscriber: the patterns are stale")
	}
	for _, s := range Catalog {
		topic := s.Event.Topic()
		want := append([]string{}, s.PublisherApps()...)
		sort.Strings(want)
		if got := pubs[topic]; strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s: the catalogue says publisher %v, the code publishes from %v", topic, want, got)
		}
		wantSubs := append([]string{}, s.Subscribers...)
		sort.Strings(wantSubs)
		if got := subs[topic]; strings.Join(got, ",") != strings.Join(wantSubs, ",") {
			t.Errorf("%s: the catalogue says subscribers %v, the code subscribes from %v", topic, wantSubs, got)
		}
	}
}

func appendOnce(xs []string, x string) []string {
	for _, y := range xs {
		if y == x {
			return xs
		}
	}
	xs = append(xs, x)
	sort.Strings(xs)
	return xs
}

// The pub/sub component's topic scopes are what the catalogue says: each
// app publishes and subscribes to its own topics only.
func TestPubsubScopesFollowTheCatalog(t *testing.T) {
	b, err := os.ReadFile("../../components/pubsub.yaml")
	if err != nil {
		t.Fatal(err)
	}
	value := func(name string) map[string][]string {
		m := regexp.MustCompile(`(?m)- name: ` + name + `\s*\n\s*value: "([^"]*)"`).FindSubmatch(b)
		if m == nil {
			t.Fatalf("components/pubsub.yaml has no %s", name)
		}
		out := map[string][]string{}
		for _, part := range strings.Split(string(m[1]), ";") {
			app, topics, _ := strings.Cut(part, "=")
			out[app] = []string{}
			for _, tp := range strings.Split(topics, ",") {
				if tp != "" {
					out[app] = appendOnce(out[app], tp)
				}
			}
		}
		return out
	}
	pub, sub := map[string][]string{}, map[string][]string{}
	for _, s := range Catalog {
		topic := s.Event.Topic()
		for _, p := range s.PublisherApps() {
			pub[p] = appendOnce(pub[p], topic)
		}
		for _, a := range s.Subscribers {
			sub[a] = appendOnce(sub[a], topic)
			pub[a] = appendOnce(pub[a], DeadLetterTopic)
		}
	}
	runFile, err := os.ReadFile("../../dapr.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`(?m)^\s*- appID: (\S+)`).FindAllStringSubmatch(string(runFile), -1) {
		app := m[1]
		for name, want := range map[string]map[string][]string{"publishingScopes": pub, "subscriptionScopes": sub} {
			got, listed := value(name)[app]
			if !listed {
				t.Errorf("%s does not list %s (an app missing from publishingScopes may publish anything)", name, app)
				continue
			}
			w := want[app]
			if strings.Join(got, ",") != strings.Join(w, ",") {
				t.Errorf("%s for %s: %v, the catalogue says %v", name, app, got, w)
			}
		}
	}
}

// components/pubsub-outbox.yaml carries the outbox's notices: each app that
// announces an outbox event publishes and reads its own notice topic
// (<app>.outbox) and nothing else, and only those apps load the component.
func TestOutboxNoticeScopesFollowTheCatalog(t *testing.T) {
	b, err := os.ReadFile("../../components/pubsub-outbox.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, s := range Catalog {
		if s.Outbox {
			if s.Publisher == "" {
				t.Errorf("%s is an outbox event without one publisher", s.Event.Topic())
			}
			want[s.Publisher] = true
		}
	}
	var apps []string
	for a := range want {
		apps = append(apps, a)
	}
	sort.Strings(apps)
	for _, name := range []string{"publishingScopes", "subscriptionScopes"} {
		m := regexp.MustCompile(`(?m)- name: ` + name + `\s*\n\s*value: "([^"]*)"`).FindSubmatch(b)
		if m == nil {
			t.Fatalf("pubsub-outbox.yaml has no %s", name)
		}
		got := map[string]string{}
		for _, part := range strings.Split(string(m[1]), ";") {
			app, topics, _ := strings.Cut(part, "=")
			got[app] = topics
		}
		for _, a := range apps {
			if got[a] != a+".outbox" {
				t.Errorf("%s for %s: %q, want %q", name, a, got[a], a+".outbox")
			}
		}
		if len(got) != len(apps) {
			t.Errorf("%s lists %v, the outbox publishers are %v", name, got, apps)
		}
	}
	scopes := regexp.MustCompile(`(?s)\nscopes:\n((?:  - \S+\n)+)`).FindSubmatch(b)
	if scopes == nil {
		t.Fatal("pubsub-outbox.yaml has no scopes")
	}
	var scoped []string
	for _, l := range strings.Split(strings.TrimSpace(string(scopes[1])), "\n") {
		scoped = append(scoped, strings.TrimPrefix(strings.TrimSpace(l), "- "))
	}
	sort.Strings(scoped)
	if strings.Join(scoped, ",") != strings.Join(apps, ",") {
		t.Errorf("pubsub-outbox is scoped to %v, the outbox publishers are %v", scoped, apps)
	}
}

// Events stay in the broker's streams after an account is deleted, so none
// carries a listener's contact details or name: consumers read those from
// users by invocation, and only while the account exists.
func TestNoEventCarriesPersonalContactData(t *testing.T) {
	personal := map[string]bool{"email": true, "displayName": true, "phone": true, "holderName": true,
		"firstName": true, "lastName": true, "address": true}
	var walk func(path string, tp reflect.Type)
	walk = func(path string, tp reflect.Type) {
		for tp.Kind() == reflect.Pointer || tp.Kind() == reflect.Slice {
			tp = tp.Elem()
		}
		if tp.Kind() != reflect.Struct {
			return
		}
		for i := range tp.NumField() {
			f := tp.Field(i)
			tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if personal[tag] && f.Type.Kind() == reflect.String {
				t.Errorf("%s.%s (%q) is personal data in an event", path, f.Name, tag)
			}
			walk(path+"."+f.Name, f.Type)
		}
	}
	for _, s := range Catalog {
		walk(TypeName(s.Event), reflect.TypeOf(s.Event))
	}
}

// components/pubsub-ingest.yaml (the counting services' way in, with more
// workers) scopes each of its apps exactly as pubsub.yaml does.
func TestIngestComponentScopesAreThePubsubOnes(t *testing.T) {
	read := func(file string) (map[string]string, []string) {
		b, err := os.ReadFile("../../components/" + file)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, name := range []string{"publishingScopes", "subscriptionScopes"} {
			m := regexp.MustCompile(`- name: ` + name + `\n\s+value: "([^"]*)"`).FindSubmatch(b)
			if m == nil {
				t.Fatalf("%s has no %s", file, name)
			}
			for _, part := range strings.Split(string(m[1]), ";") {
				app, topics, _ := strings.Cut(part, "=")
				ts := strings.Split(topics, ",")
				sort.Strings(ts)
				out[name+" "+app] = strings.Join(ts, ",")
			}
		}
		var scoped []string
		if i := strings.Index(string(b), "\nscopes:\n"); i >= 0 {
			for _, l := range strings.Split(string(b[i+len("\nscopes:\n"):]), "\n") {
				if a, ok := strings.CutPrefix(strings.TrimSpace(l), "- "); ok {
					scoped = append(scoped, a)
				}
			}
		}
		return out, scoped
	}
	all, _ := read("pubsub.yaml")
	ingest, apps := read("pubsub-ingest.yaml")
	if len(apps) == 0 {
		t.Fatal("pubsub-ingest.yaml is not scoped: every app would load it")
	}
	for _, app := range apps {
		for _, name := range []string{"publishingScopes", "subscriptionScopes"} {
			if got, want := ingest[name+" "+app], all[name+" "+app]; got != want {
				t.Errorf("pubsub-ingest %s for %s: %q, pubsub.yaml says %q", name, app, got, want)
			}
		}
	}
}
