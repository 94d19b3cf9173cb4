package k8s

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Manifests broken on purpose: each break makes a check fail with a
// message that names it. This is what keeps the checks above honest.
func TestBrokenManifestsAreNamed(t *testing.T) {
	apps, err := LoadApps(Root)
	if err != nil {
		t.Fatal(err)
	}
	reg := contribRegistry(t)
	fresh := func() []*unstructured.Unstructured {
		objs, err := Render(Root, "dev")
		if err != nil {
			t.Fatal(err)
		}
		return objs
	}
	if errs := append(CheckOverlay(Root, fresh(), apps), CheckComponents(fresh(), reg)...); len(errs) > 0 {
		t.Fatalf("the dev overlay as committed already fails: %v", errs)
	}
	metadata := func(o *unstructured.Unstructured) []any {
		md, _, _ := unstructured.NestedSlice(o.Object, "spec", "metadata")
		return md
	}
	cases := []struct {
		name   string
		break_ func(objs []*unstructured.Unstructured) []*unstructured.Unstructured
		check  func(objs []*unstructured.Unstructured) []string
		want   string
	}{
		{"wrong app port", func(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
			w := Workload(objs, "albums")
			_ = unstructured.SetNestedField(w.Object, "9999", "spec", "template", "metadata", "annotations", "dapr.io/app-port")
			return objs
		}, nil, `app albums: annotation dapr.io/app-port is "9999", want "8083"`},
		{"unscoped store", func(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
			unstructured.RemoveNestedField(find(objs, "Component", "albums-store").Object, "scopes")
			return objs
		}, nil, "component albums-store (state.postgresql) has no scopes"},
		{"store shared by two apps", func(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
			_ = unstructured.SetNestedStringSlice(find(objs, "Component", "users-store").Object, []string{"users", "auth"}, "scopes")
			return objs
		}, nil, "state store users-store is scoped to [users auth], want exactly [users]"},
		{"missing Configuration", func(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
			c := find(objs, "Configuration", "payments")
			var out []*unstructured.Unstructured
			for _, o := range objs {
				if o != c {
					out = append(out, o)
				}
			}
			return out
		}, nil, `app payments: Configuration "payments" (dapr.io/config) is not in the overlay`},
		{"drifted access control", func(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
			c := find(objs, "Configuration", "albums")
			_ = unstructured.SetNestedField(c.Object, "allow", "spec", "accessControl", "defaultAction")
			return objs
		}, nil, "app albums: Configuration albums: accessControl differs from config/secure/albums.yaml"},
		{"component type daprd lacks", func(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
			_ = unstructured.SetNestedField(find(objs, "Component", "albums-store").Object, "v3", "spec", "version")
			return objs
		}, func(objs []*unstructured.Unstructured) []string { return CheckComponents(objs, reg) },
			"component albums-store: type state.postgresql version v3 is not in the pinned daprd's components"},
		{"misspelt component field", func(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
			m := find(objs, "Component", "media")
			md := append(metadata(m), map[string]any{"name": "forcePathStyl", "value": "true"})
			_ = unstructured.SetNestedSlice(m.Object, md, "spec", "metadata")
			return objs
		}, func(objs []*unstructured.Unstructured) []string { return CheckComponents(objs, reg) },
			"component media (bindings.aws.s3/v1): metadata [forcePathStyl] is not a field of that component"},
		{"missing Secret", func(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
			var out []*unstructured.Unstructured
			for _, o := range objs {
				if !(o.GetKind() == "Secret" && o.GetName() == "harmonia-redis") {
					out = append(out, o)
				}
			}
			return out
		}, CheckSecretRefs, "component pubsub names Secret harmonia-redis, which the overlay lacks"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			objs := c.break_(fresh())
			check := c.check
			if check == nil {
				check = func(objs []*unstructured.Unstructured) []string { return CheckOverlay(Root, objs, apps) }
			}
			errs := check(objs)
			for _, e := range errs {
				if strings.Contains(e, c.want) {
					return
				}
			}
			t.Errorf("want a message with %q, got %v", c.want, errs)
		})
	}
}

// The API server itself refuses an unknown field (strict validation), and
// an injected pod whose annotation names another port is caught.
func TestBrokenObjectsAreRefused(t *testing.T) {
	objs, err := Render(Root, "dev")
	if err != nil {
		t.Fatal(err)
	}
	ensureNamespace(t, objs)
	w := Workload(objs, "users").DeepCopy()
	cs, _, _ := unstructured.NestedSlice(w.Object, "spec", "template", "spec", "containers")
	cs[0].(map[string]any)["livenessProbez"] = map[string]any{}
	_ = unstructured.SetNestedSlice(w.Object, cs, "spec", "template", "spec", "containers")
	err = cluster.c.Create(context.Background(), w, strict(true))
	if err == nil || !strings.Contains(err.Error(), `unknown field "spec.template.spec.containers[0].livenessProbez"`) {
		t.Errorf("a Deployment with an unknown field: %v, want refused naming the field", err)
	}
	comp := find(objs, "Component", "users-store").DeepCopy()
	_ = unstructured.SetNestedField(comp.Object, "x", "spec", "typo")
	err = cluster.c.Create(context.Background(), comp, strict(true))
	if err == nil || !strings.Contains(err.Error(), "spec.typo") {
		t.Errorf("a Component with an unknown field: %v, want refused naming the field", err)
	}

	apps, _ := LoadApps(Root)
	var users RunApp
	for _, a := range apps {
		if a.AppID == "users" {
			users = a
		}
	}
	tmpl, err := podTemplate(Workload(objs, "users"))
	if err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{ObjectMeta: tmpl.ObjectMeta, Spec: tmpl.Spec}
	pod.Name, pod.Namespace = "users-wrong-port", Namespace
	pod.Annotations["dapr.io/app-port"] = "9999"
	if err := cluster.c.Create(context.Background(), pod, strict(true)); err != nil {
		t.Fatal(err)
	}
	errs := CheckInjected(pod, users, objs)
	if len(errs) == 0 || !strings.Contains(strings.Join(errs, "\n"), `users: daprd --app-port "9999", want 8082 as in dapr.yaml`) {
		t.Errorf("an injected pod on the wrong port: %v", errs)
	}
}
