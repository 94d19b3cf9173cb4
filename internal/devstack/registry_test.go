package devstack

// dapr.yaml is the one registry of apps (ids and ports). Everything else
// that must know an app is checked against it here, with a message that says
// which file to add or change: docs/adding-a-service.md walks through it.

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const repoRoot = "../.."

func TestEveryAppIsRegisteredEverywhere(t *testing.T) {
	f, err := LoadRunFile(filepath.Join(repoRoot, "dapr.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, a := range f.Apps {
		ids = append(ids, a.AppID)
	}
	for _, p := range checkRegistry(repoRoot, ids) {
		t.Error(p)
	}
}

// An app added to dapr.yaml alone is reported, each missing file by name.
func TestRegistryNamesWhatANewAppLacks(t *testing.T) {
	f, err := LoadRunFile(filepath.Join(repoRoot, "dapr.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{"newapp"}
	for _, a := range f.Apps {
		ids = append(ids, a.AppID)
	}
	problems := strings.Join(checkRegistry(repoRoot, ids), "\n")
	for _, want := range []string{"apps/newapp/main.go", "config/secure/newapp.yaml", "components/resiliency-*.yaml"} {
		if !strings.Contains(problems, want) {
			t.Errorf("a new app without %s was not reported:\n%s", want, problems)
		}
	}
}

type resource struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Spec struct {
		Type     string `yaml:"type"`
		Metadata []struct {
			Name         string         `yaml:"name"`
			Value        *string        `yaml:"value"`
			SecretKeyRef map[string]any `yaml:"secretKeyRef"`
		} `yaml:"metadata"`
		Targets struct {
			Apps map[string]any `yaml:"apps"`
		} `yaml:"targets"`
	} `yaml:"spec"`
	Scopes []string `yaml:"scopes"`
}

func readResources(path string) ([]resource, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	var out []resource
	for {
		var r resource
		if err := dec.Decode(&r); err != nil {
			if err.Error() == "EOF" {
				return out, nil
			}
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, r)
	}
}

var (
	publicRoute = regexp.MustCompile(`HandleFunc\("(/api/v1/[^"]*)",[^)]*\)\.Methods\(([^)]*)\)`)
	tableRoute  = regexp.MustCompile(`\{Method: "(\w+)", Path: "([^"]+)", App: "(\w+)"`)
	httpMethod  = regexp.MustCompile(`http\.Method(\w+)`)
)

// checkRegistry reports, for the apps of dapr.yaml, every file that should
// know an app and does not, and every file that names an app dapr.yaml does
// not have.
func checkRegistry(root string, apps []string) []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	known := func(id string) bool { return slices.Contains(apps, id) }

	// Resiliency: every sidecar's outgoing hops are bounded.
	var res []resource
	files, _ := filepath.Glob(filepath.Join(root, "components", "resiliency-*.yaml"))
	for _, f := range files {
		rs, err := readResources(f)
		if err != nil {
			return []string{err.Error()}
		}
		res = append(res, rs...)
	}
	scoped := map[string]bool{}
	edgeTargets := map[string]bool{}
	for _, r := range res {
		for _, s := range r.Scopes {
			scoped[s] = true
			if !known(s) {
				add("components/resiliency-%s.yaml: Resiliency %s is scoped to %q, which is not in dapr.yaml", r.Metadata.Name, r.Metadata.Name, s)
			}
		}
		if slices.Contains(r.Scopes, "gateway") {
			for app := range r.Spec.Targets.Apps {
				edgeTargets[app] = true
			}
		}
	}

	// Components: every state store belongs to apps that exist, and has its
	// PostgreSQL counterpart in components/postgres.
	comps, _ := filepath.Glob(filepath.Join(root, "components", "*.yaml"))
	for _, file := range comps {
		rs, err := readResources(file)
		if err != nil {
			add("%v", err)
			continue
		}
		for _, r := range rs {
			if r.Kind != "Component" {
				continue
			}
			for _, s := range r.Scopes {
				if !known(s) {
					add("%s: component %s is scoped to %q, which is not in dapr.yaml", rel(root, file), r.Metadata.Name, s)
				}
			}
			if strings.HasPrefix(r.Spec.Type, "state.") {
				over := filepath.Join(root, "components", "postgres", filepath.Base(file))
				if _, err := os.Stat(over); err != nil {
					add("%s: state store %s (scoped to %v) has no PostgreSQL counterpart: add components/postgres/%s", rel(root, file), r.Metadata.Name, r.Scopes, filepath.Base(file))
				}
			}
		}
	}

	// The PostgreSQL set: components that share a database share no table.
	// Sidecars start at once, and two creating the same table race (CREATE
	// TABLE IF NOT EXISTS is not safe concurrently in PostgreSQL: the loser
	// exits with SQLSTATE 42P07), so each names its own state tables
	// (tablePrefix) and its own metadata table (metadataTableName, which
	// defaults to one dapr_metadata for all).
	pgs, _ := filepath.Glob(filepath.Join(root, "components", "postgres", "*.yaml"))
	tables := map[string]string{} // "connection\x00table" → component
	for _, file := range pgs {
		rs, err := readResources(file)
		if err != nil {
			add("%v", err)
			continue
		}
		for _, r := range rs {
			if r.Spec.Type != "state.postgresql" {
				continue
			}
			md := map[string]string{"metadataTableName": "dapr_metadata"}
			for _, m := range r.Spec.Metadata {
				if m.Value != nil {
					md[m.Name] = *m.Value
				}
			}
			for _, table := range []string{md["tablePrefix"] + "state", md["metadataTableName"]} {
				k := md["connectionString"] + "\x00" + table
				if other, ok := tables[k]; ok {
					add("%s: component %s uses table %s of the same database as %s: give it its own tablePrefix and metadataTableName", rel(root, file), r.Metadata.Name, table, other)
				}
				tables[k] = r.Metadata.Name
			}
		}
	}

	// The gateway's table of public routes, and each app's own routes.
	table, err := os.ReadFile(filepath.Join(root, "apps", "gateway", "internal", "routes", "routes.go"))
	if err != nil {
		return append(problems, err.Error())
	}
	routed := map[string]string{} // "METHOD path" → app
	for _, m := range tableRoute.FindAllStringSubmatch(string(table), -1) {
		routed[m[1]+" "+m[2]] = m[3]
		if !known(m[3]) {
			add("apps/gateway/internal/routes/routes.go: %s %s goes to %q, which is not in dapr.yaml", m[1], m[2], m[3])
		}
	}

	for _, id := range apps {
		if _, err := os.Stat(filepath.Join(root, "apps", id, "main.go")); err != nil {
			add("%s: no apps/%s/main.go (the app itself; see docs/adding-a-service.md)", id, id)
		}
		if _, err := os.Stat(filepath.Join(root, "config", "secure", id+".yaml")); err != nil {
			add("%s: no config/secure/%s.yaml (its Configuration: mTLS, access control, name resolution)", id, id)
		}
		if !scoped[id] {
			add("%s: no components/resiliency-*.yaml scopes a Resiliency to it (bound its outgoing calls and publishing)", id)
		}
		var served []string
		ports, _ := filepath.Glob(filepath.Join(root, "apps", id, "internal", "ports", "*.go"))
		for _, p := range ports {
			if strings.HasSuffix(p, "_test.go") {
				continue
			}
			b, _ := os.ReadFile(p)
			for _, m := range publicRoute.FindAllStringSubmatch(string(b), -1) {
				for _, meth := range httpMethod.FindAllStringSubmatch(m[2], -1) {
					route := strings.ToUpper(meth[1]) + " " + m[1]
					served = append(served, route)
					if routed[route] != id {
						add("%s: serves %s but apps/gateway/internal/routes/routes.go does not route it to %s", id, route, id)
					}
				}
			}
		}
		if len(served) > 0 && !edgeTargets[id] {
			add("%s: has public routes but the gateway's Resiliency in components/resiliency-edge.yaml has no target for it", id)
		}
	}
	for route, app := range routed {
		if app == "gateway" || !known(app) {
			continue
		}
		ports, _ := filepath.Glob(filepath.Join(root, "apps", app, "internal", "ports", "*.go"))
		found := false
		for _, p := range ports {
			b, _ := os.ReadFile(p)
			method, path, _ := strings.Cut(route, " ")
			if strings.Contains(string(b), `"`+path+`"`) && strings.Contains(string(b), "http.Method"+titleCase(method)) {
				found = true
			}
		}
		if !found {
			add("apps/gateway/internal/routes/routes.go: routes %s to %s, which does not serve it", route, app)
		}
	}
	return problems
}

func titleCase(m string) string { return m[:1] + strings.ToLower(m[1:]) }

func rel(root, p string) string {
	r, err := filepath.Rel(root, p)
	if err != nil {
		return p
	}
	return filepath.ToSlash(r)
}

// daprd 1.18 reads only the first YAML document of a resiliency file, so a
// second Resiliency after '---' would be ignored without a word (it was,
// for every caller but the gateway, until this test). One per file.
func TestOneResiliencyPerFile(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(repoRoot, "components", "*.yaml"))
	more, _ := filepath.Glob(filepath.Join(repoRoot, "components", "*", "*.yaml"))
	n := 0
	for _, f := range append(files, more...) {
		rs, err := readResources(f)
		if err != nil {
			t.Fatal(err)
		}
		kinds := 0
		for _, r := range rs {
			if r.Kind == "Resiliency" {
				kinds++
				n++
			}
		}
		if kinds > 0 && len(rs) > 1 {
			t.Errorf("%s holds %d documents: daprd would load only the first", f, len(rs))
		}
		if kinds > 0 && !strings.HasPrefix(filepath.Base(f), "resiliency-") {
			t.Errorf("%s: name resiliency files resiliency-<name>.yaml (the registry reads those)", f)
		}
	}
	if n == 0 {
		t.Fatal("found no Resiliency at all")
	}
}

// A Resiliency retry policy has exactly the fields of Dapr's CRD (policy,
// duration, maxInterval, maxRetries, matching). daprd silently drops any
// other (initialInterval was, in every file, until the Kubernetes API
// server refused it), so a field it ignores is an error here.
func TestRetryPoliciesUseDaprFields(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(repoRoot, "components", "resiliency-*.yaml"))
	known := map[string]bool{"policy": true, "duration": true, "maxInterval": true, "maxRetries": true, "matching": true}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Spec struct {
				Policies struct {
					Retries map[string]map[string]any `yaml:"retries"`
				} `yaml:"policies"`
			} `yaml:"spec"`
		}
		if err := yaml.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for name, r := range doc.Spec.Policies.Retries {
			for k := range r {
				if !known[k] {
					t.Errorf("%s: retry %s has %q, which Dapr's Resiliency does not have (daprd ignores it)", rel(repoRoot, f), name, k)
				}
			}
		}
	}
}
