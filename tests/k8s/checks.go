// Package k8s proves the Kubernetes manifests: they render, a real API
// server accepts them, Dapr's injector logic injects what the apps need, and
// every Dapr component names a type the pinned daprd has. The checks are
// plain functions over rendered objects, so a test can also feed them a
// manifest broken on purpose and see the message that names the break.
package k8s

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// Root is the repository, seen from this package.
const Root = "../.."

// Namespace is the cluster namespace the overlays use.
const Namespace = "harmonia"

// Overlays are the folders under k8s/overlays that must render and apply.
var Overlays = []string{"dev", "prod", "prod-kafka"}

// RunApp is an app of dapr.yaml.
type RunApp struct {
	AppID   string `yaml:"appID"`
	AppPort int    `yaml:"appPort"`
}

// LoadApps reads the apps of dapr.yaml.
func LoadApps(root string) ([]RunApp, error) {
	b, err := os.ReadFile(filepath.Join(root, "dapr.yaml"))
	if err != nil {
		return nil, err
	}
	var f struct {
		Apps []RunApp `yaml:"apps"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		return nil, err
	}
	return f.Apps, nil
}

// Render builds an overlay with the kustomize library.
func Render(root, overlay string) ([]*unstructured.Unstructured, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join(root, "k8s", "overlays", overlay))
	if err != nil {
		return nil, fmt.Errorf("kustomize %s: %w", overlay, err)
	}
	var out []*unstructured.Unstructured
	for _, r := range m.Resources() {
		b, err := r.MarshalJSON()
		if err != nil {
			return nil, err
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(b); err != nil {
			return nil, fmt.Errorf("%s: %w", r.CurId(), err)
		}
		out = append(out, u)
	}
	return out, nil
}

func find(objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

// Workload is the Deployment or StatefulSet of an app.
func Workload(objs []*unstructured.Unstructured, app string) *unstructured.Unstructured {
	if w := find(objs, "Deployment", app); w != nil {
		return w
	}
	return find(objs, "StatefulSet", app)
}

func str(o map[string]any, path ...string) string {
	v, _, _ := unstructured.NestedString(o, path...)
	return v
}

// CheckOverlay checks a rendered overlay against dapr.yaml and
// config/secure: every app has a workload whose Dapr annotations name its
// app id, the port of dapr.yaml and a Configuration of the overlay holding
// the access control of config/secure/<app>.yaml; the token Secrets are
// referenced; resources are set; every state store is scoped to exactly its
// app; every component is scoped. Each problem is one message naming it.
func CheckOverlay(root string, objs []*unstructured.Unstructured, apps []RunApp) []string {
	var errs []string
	bad := func(format string, a ...any) { errs = append(errs, fmt.Sprintf(format, a...)) }
	for _, a := range apps {
		w := Workload(objs, a.AppID)
		if w == nil {
			bad("app %s: no Deployment or StatefulSet named %s", a.AppID, a.AppID)
			continue
		}
		ann, _, _ := unstructured.NestedStringMap(w.Object, "spec", "template", "metadata", "annotations")
		want := map[string]string{"dapr.io/enabled": "true", "dapr.io/app-id": a.AppID, "dapr.io/app-port": strconv.Itoa(a.AppPort),
			"dapr.io/api-token-secret": "harmonia-dapr-api-token", "dapr.io/app-token-secret": "harmonia-app-api-token",
			"dapr.io/sidecar-seccomp-profile-type": "RuntimeDefault", "dapr.io/enable-app-health-check": "true",
			"dapr.io/app-health-check-path": "/healthz", "dapr.io/log-as-json": "true"}
		for k, v := range want {
			if ann[k] != v {
				bad("app %s: annotation %s is %q, want %q (dapr.yaml / production guide)", a.AppID, k, ann[k], v)
			}
		}
		for _, k := range []string{"dapr.io/sidecar-cpu-request", "dapr.io/sidecar-memory-request", "dapr.io/sidecar-memory-limit", "dapr.io/graceful-shutdown-seconds"} {
			if ann[k] == "" {
				bad("app %s: annotation %s is not set", a.AppID, k)
			}
		}
		if !strings.HasPrefix(ann["dapr.io/env"], "GOMEMLIMIT=") {
			bad("app %s: the sidecar has no GOMEMLIMIT (dapr.io/env)", a.AppID)
		}
		cfgName := ann["dapr.io/config"]
		cfg := find(objs, "Configuration", cfgName)
		if cfg == nil {
			bad("app %s: Configuration %q (dapr.io/config) is not in the overlay", a.AppID, cfgName)
		} else if msg := SameAccessControl(root, a.AppID, cfg); msg != "" {
			bad("app %s: Configuration %s: %s", a.AppID, cfgName, msg)
		}
		spec, _, _ := unstructured.NestedMap(w.Object, "spec", "template", "spec")
		if str(spec, "serviceAccountName") != a.AppID {
			bad("app %s: serviceAccountName is %q, want %q", a.AppID, str(spec, "serviceAccountName"), a.AppID)
		}
		containers, _, _ := unstructured.NestedSlice(w.Object, "spec", "template", "spec", "containers")
		if len(containers) != 1 {
			bad("app %s: %d containers, want the app alone (the injector adds daprd)", a.AppID, len(containers))
			continue
		}
		c := containers[0].(map[string]any)
		ports, _, _ := unstructured.NestedSlice(c, "ports")
		hasPort := false
		for _, p := range ports {
			if n, _, _ := unstructured.NestedInt64(p.(map[string]any), "containerPort"); int(n) == a.AppPort {
				hasPort = true
			}
		}
		if !hasPort {
			bad("app %s: the container does not expose the app port %d of dapr.yaml", a.AppID, a.AppPort)
		}
		if env := envValue(c, "APP_PORT"); env != strconv.Itoa(a.AppPort) {
			bad("app %s: APP_PORT is %q, want %d as in dapr.yaml", a.AppID, env, a.AppPort)
		}
		if ref := envSecret(c, "APP_API_TOKEN"); ref != "harmonia-app-api-token" {
			bad("app %s: APP_API_TOKEN comes from %q, want Secret harmonia-app-api-token", a.AppID, ref)
		}
		for _, r := range []string{"requests.cpu", "requests.memory", "limits.memory"} {
			k, v, _ := strings.Cut(r, ".")
			if s, _, _ := unstructured.NestedString(c, "resources", k, v); s == "" {
				bad("app %s: resources.%s is not set", a.AppID, r)
			}
		}
		sc, _, _ := unstructured.NestedMap(c, "securityContext")
		if ro, _, _ := unstructured.NestedBool(sc, "readOnlyRootFilesystem"); !ro {
			bad("app %s: the root filesystem is writable", a.AppID)
		}
		if drop, _, _ := unstructured.NestedStringSlice(sc, "capabilities", "drop"); !reflect.DeepEqual(drop, []string{"ALL"}) {
			bad("app %s: capabilities drop %v, want [ALL]", a.AppID, drop)
		}
		for _, probe := range []string{"readinessProbe", "livenessProbe"} {
			if _, ok := c[probe]; !ok {
				bad("app %s: no %s", a.AppID, probe)
			}
		}
		if find(objs, "PodDisruptionBudget", a.AppID) == nil {
			bad("app %s: no PodDisruptionBudget", a.AppID)
		}
		if find(objs, "ServiceAccount", a.AppID) == nil {
			bad("app %s: no ServiceAccount", a.AppID)
		}
	}
	errs = append(errs, CheckScopes(objs, apps)...)
	return errs
}

func envValue(c map[string]any, name string) string {
	env, _, _ := unstructured.NestedSlice(c, "env")
	for _, e := range env {
		m := e.(map[string]any)
		if m["name"] == name {
			return str(m, "value")
		}
	}
	return ""
}

func envSecret(c map[string]any, name string) string {
	env, _, _ := unstructured.NestedSlice(c, "env")
	for _, e := range env {
		m := e.(map[string]any)
		if m["name"] == name {
			return str(m, "valueFrom", "secretKeyRef", "name")
		}
	}
	return ""
}

// CheckScopes: every component is scoped to apps of dapr.yaml, and every
// state store to exactly one app.
func CheckScopes(objs []*unstructured.Unstructured, apps []RunApp) []string {
	known := map[string]bool{}
	for _, a := range apps {
		known[a.AppID] = true
	}
	var errs []string
	for _, o := range objs {
		if o.GetKind() != "Component" {
			continue
		}
		scopes, _, _ := unstructured.NestedStringSlice(o.Object, "scopes")
		typ := str(o.Object, "spec", "type")
		if len(scopes) == 0 {
			errs = append(errs, fmt.Sprintf("component %s (%s) has no scopes: every app's sidecar would load it", o.GetName(), typ))
			continue
		}
		for _, s := range scopes {
			if !known[s] {
				errs = append(errs, fmt.Sprintf("component %s is scoped to %q, which is no app of dapr.yaml", o.GetName(), s))
			}
		}
		if strings.HasPrefix(typ, "state.") {
			owner, _, _ := strings.Cut(o.GetName(), "-")
			if len(scopes) != 1 || scopes[0] != owner {
				errs = append(errs, fmt.Sprintf("state store %s is scoped to %v, want exactly [%s]", o.GetName(), scopes, owner))
			}
		}
	}
	return errs
}

// SameAccessControl compares a cluster Configuration's access control with
// config/secure/<app>.yaml's, the namespace aside ("" when they agree).
func SameAccessControl(root, app string, cfg *unstructured.Unstructured) string {
	b, err := os.ReadFile(filepath.Join(root, "config", "secure", app+".yaml"))
	if err != nil {
		return err.Error()
	}
	var local map[string]any
	if err := yaml.Unmarshal(b, &local); err != nil {
		return err.Error()
	}
	want, _, _ := unstructured.NestedMap(normalize(local), "spec", "accessControl")
	got, _, _ := unstructured.NestedMap(normalize(cfg.Object), "spec", "accessControl")
	if want == nil {
		return "config/secure has no accessControl"
	}
	if pols, ok := want["policies"].([]any); ok {
		for _, p := range pols {
			p.(map[string]any)["namespace"] = Namespace
		}
	}
	if !reflect.DeepEqual(want, got) {
		return fmt.Sprintf("accessControl differs from config/secure/%s.yaml (namespace %s): got %v, want %v", app, Namespace, got, want)
	}
	return ""
}

// normalize turns YAML-decoded values into the shapes JSON decoding gives
// (int64 numbers, []any lists, map[string]any maps).
func normalize(m map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = normValue(v)
	}
	return out
}

func normValue(v any) any {
	switch t := v.(type) {
	case map[string]any:
		return normalize(t)
	case []any:
		r := make([]any, len(t))
		for i := range t {
			r[i] = normValue(t[i])
		}
		return r
	case int:
		return int64(t)
	default:
		return v
	}
}

// Registry is the set of "type/version" the pinned daprd has, read from
// the components-contrib module it is built with (each component's
// metadata.yaml), with each component's metadata field names.
type Registry map[string]map[string]bool

// LoadRegistry reads the contrib metadata files under dir.
func LoadRegistry(dir string) (Registry, error) {
	reg := Registry{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "metadata.yaml" {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		var m struct {
			Type     string `yaml:"type"`
			Name     string `yaml:"name"`
			Version  string `yaml:"version"`
			Metadata []struct {
				Name string `yaml:"name"`
			} `yaml:"metadata"`
			Profiles []struct {
				Name string `yaml:"name"`
			} `yaml:"builtinAuthenticationProfiles"`
			AuthProfiles []struct {
				Metadata []struct {
					Name string `yaml:"name"`
				} `yaml:"metadata"`
			} `yaml:"authenticationProfiles"`
		}
		if yaml.Unmarshal(b, &m) != nil || m.Type == "" || m.Name == "" {
			return nil
		}
		fields := map[string]bool{}
		for _, f := range m.Metadata {
			fields[f.Name] = true
		}
		for _, ap := range m.AuthProfiles {
			for _, f := range ap.Metadata {
				fields[f.Name] = true
			}
		}
		for _, p := range m.Profiles {
			for _, f := range builtinProfiles[p.Name] {
				fields[f] = true
			}
		}
		reg[m.Type+"."+m.Name+"/"+m.Version] = fields
		return nil
	})
	return reg, err
}

// builtinProfiles are the fields of contrib's built-in authentication
// profiles (components-contrib/.build-tools/builtin-authentication-profiles.yaml).
var builtinProfiles = map[string][]string{
	"aws": {"accessKey", "secretKey", "sessionToken", "region", "endpoint", "assumeRoleArn", "trustAnchorArn", "trustProfileArn", "sessionName"},
}

// daprWide are metadata fields daprd itself reads for any component of a kind.
var daprWide = map[string][]string{
	"pubsub": {"consumerID", "publishingScopes", "subscriptionScopes", "allowedTopics", "protectedTopics"},
	"state":  {"actorStateStore", "outboxPublishPubsub", "outboxPublishTopic", "outboxPubsub", "outboxDiscardWhenMissingState", "keyPrefix"},
}

// CheckComponents: each component's type and version exist in the pinned
// daprd, and each metadata field is one that component reads.
func CheckComponents(objs []*unstructured.Unstructured, reg Registry) []string {
	var errs []string
	for _, o := range objs {
		if o.GetKind() != "Component" {
			continue
		}
		typ, ver := str(o.Object, "spec", "type"), str(o.Object, "spec", "version")
		fields, ok := reg[typ+"/"+ver]
		if !ok {
			errs = append(errs, fmt.Sprintf("component %s: type %s version %s is not in the pinned daprd's components", o.GetName(), typ, ver))
			continue
		}
		kind, _, _ := strings.Cut(typ, ".")
		md, _, _ := unstructured.NestedSlice(o.Object, "spec", "metadata")
		var unknown []string
		for _, m := range md {
			name := str(m.(map[string]any), "name")
			if !fields[name] && !contains(daprWide[kind], name) {
				unknown = append(unknown, name)
			}
		}
		sort.Strings(unknown)
		if len(unknown) > 0 {
			errs = append(errs, fmt.Sprintf("component %s (%s/%s): metadata %v is not a field of that component", o.GetName(), typ, ver, unknown))
		}
	}
	return errs
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// CheckSecretRefs: in an overlay that brings its own Secrets (dev), every
// Secret a component, a container or a Dapr annotation names is there, with
// the key asked for.
func CheckSecretRefs(objs []*unstructured.Unstructured) []string {
	keys := map[string]map[string]bool{}
	for _, o := range objs {
		if o.GetKind() == "Secret" {
			keys[o.GetName()] = map[string]bool{}
			for _, f := range []string{"data", "stringData"} {
				m, _, _ := unstructured.NestedMap(o.Object, f)
				for k := range m {
					keys[o.GetName()][k] = true
				}
			}
		}
	}
	var errs []string
	need := func(where, name, key string) {
		if ks, ok := keys[name]; !ok {
			errs = append(errs, fmt.Sprintf("%s names Secret %s, which the overlay lacks", where, name))
		} else if key != "" && !ks[key] {
			errs = append(errs, fmt.Sprintf("%s names key %s of Secret %s, which it lacks", where, key, name))
		}
	}
	for _, o := range objs {
		switch o.GetKind() {
		case "Component":
			md, _, _ := unstructured.NestedSlice(o.Object, "spec", "metadata")
			for _, m := range md {
				mm := m.(map[string]any)
				if n := str(mm, "secretKeyRef", "name"); n != "" {
					need("component "+o.GetName(), n, str(mm, "secretKeyRef", "key"))
				}
			}
		case "Deployment", "StatefulSet", "Job":
			ann, _, _ := unstructured.NestedStringMap(o.Object, "spec", "template", "metadata", "annotations")
			for _, k := range []string{"dapr.io/api-token-secret", "dapr.io/app-token-secret"} {
				if ann[k] != "" {
					need(o.GetKind()+" "+o.GetName()+" ("+k+")", ann[k], "token")
				}
			}
			cs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
			for _, c := range cs {
				env, _, _ := unstructured.NestedSlice(c.(map[string]any), "env")
				for _, e := range env {
					em := e.(map[string]any)
					if n := str(em, "valueFrom", "secretKeyRef", "name"); n != "" {
						need(o.GetKind()+" "+o.GetName()+" env "+str(em, "name"), n, str(em, "valueFrom", "secretKeyRef", "key"))
					}
				}
			}
		case "Role":
			rules, _, _ := unstructured.NestedSlice(o.Object, "rules")
			for _, r := range rules {
				names, _, _ := unstructured.NestedStringSlice(r.(map[string]any), "resourceNames")
				for _, n := range names {
					need("Role "+o.GetName(), n, "")
				}
			}
		}
	}
	return errs
}
