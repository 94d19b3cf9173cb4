package k8s

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dapr/dapr/pkg/injector/patcher"
	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// cluster is the API server every test of this package talks to.
var cluster struct {
	c        client.Client
	injected chan string // app ids the webhook patched
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	for _, v := range []string{"TEST_ASSET_KUBE_APISERVER", "TEST_ASSET_ETCD"} {
		if os.Getenv(v) == "" {
			fmt.Fprintf(os.Stderr, "%s is not set: run 'make test-k8s', which builds kube-apiserver and etcd (tools/kube) into .bin/kube/\n", v)
			return 1
		}
	}
	reapOrphans(os.Getenv("TEST_ASSET_KUBE_APISERVER"), os.Getenv("TEST_ASSET_ETCD"))
	daprDir, err := moduleDir("github.com/dapr/dapr")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	path := "/mutate-pods"
	fail := admissionregistrationv1.Fail
	none := admissionregistrationv1.SideEffectClassNone
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(daprDir, "charts", "dapr", "crds")},
		ErrorIfCRDPathMissing: true,
		WebhookInstallOptions: envtest.WebhookInstallOptions{
			MutatingWebhooks: []*admissionregistrationv1.MutatingWebhookConfiguration{{
				ObjectMeta: metav1.ObjectMeta{Name: "dapr-sidecar-injector"},
				Webhooks: []admissionregistrationv1.MutatingWebhook{{
					Name: "sidecar-injector.dapr.io",
					ClientConfig: admissionregistrationv1.WebhookClientConfig{
						Service: &admissionregistrationv1.ServiceReference{Name: "dapr-sidecar-injector", Namespace: "dapr-system", Path: &path},
					},
					Rules: []admissionregistrationv1.RuleWithOperations{{
						Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
						Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}},
					}},
					FailurePolicy:           &fail,
					SideEffects:             &none,
					AdmissionReviewVersions: []string{"v1"},
				}},
			}},
		},
	}
	start := time.Now()
	cfg, err := env.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "envtest:", err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	fmt.Printf("k8s: API server %s and etcd up with Dapr's CRDs in %s\n", cfg.Host, time.Since(start).Round(100*time.Millisecond))

	opts := env.WebhookInstallOptions
	srv := webhook.NewServer(webhook.Options{Host: opts.LocalServingHost, Port: opts.LocalServingPort, CertDir: opts.LocalServingCertDir})
	cluster.injected = make(chan string, 100)
	srv.Register(path, &webhook.Admission{Handler: admission.HandlerFunc(inject)})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = srv.Start(ctx) }()
	for i := 0; srv.StartedChecker()(&http.Request{}) != nil; i++ {
		if i > 100 {
			fmt.Fprintln(os.Stderr, "webhook server did not start")
			return 1
		}
		time.Sleep(50 * time.Millisecond)
	}
	if cluster.c, err = client.New(cfg, client.Options{Scheme: scheme.Scheme}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// inject is Dapr's sidecar injector: the same patcher package, configured
// as the Helm chart configures the real injector (mTLS, the sidecar
// non-root with a read-only root filesystem and every capability dropped:
// dapr_sidecar_injector.sidecarDropALLCapabilities=true).
func inject(_ context.Context, req admission.Request) admission.Response {
	pod := &corev1.Pod{}
	if err := json.Unmarshal(req.Object.Raw, pod); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	sc := patcher.NewSidecarConfig(pod)
	sc.Mode = "kubernetes"
	sc.Namespace = req.Namespace
	sc.MTLSEnabled = true
	sc.Identity = req.Namespace + ":" + pod.Spec.ServiceAccountName
	sc.ImagePullPolicy = corev1.PullIfNotPresent
	sc.OperatorAddress = "dapr-api.dapr-system.svc.cluster.local:443"
	sc.SentryAddress = "dapr-sentry.dapr-system.svc.cluster.local:443"
	sc.PlacementAddress = "dapr-placement-server.dapr-system.svc.cluster.local:50005"
	sc.RunAsNonRoot = true
	sc.ReadOnlyRootFilesystem = true
	sc.SidecarDropALLCapabilities = true
	sc.ControlPlaneNamespace = "dapr-system"
	sc.ControlPlaneTrustDomain = "cluster.local"
	sc.SentrySPIFFEID = "spiffe://cluster.local/ns/dapr-system/dapr-sentry"
	sc.CurrentTrustAnchors = []byte("-----BEGIN CERTIFICATE-----\ntest\n-----END CERTIFICATE-----\n")
	sc.KubeClusterDomain = "cluster.local"
	sc.SchedulerEnabled = true
	sc.SidecarImage = "ghcr.io/dapr/daprd:1.18.1"
	sc.SetFromPodAnnotations()
	patch, err := sc.GetPatch()
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	if len(patch) == 0 {
		return admission.Allowed("not a Dapr pod")
	}
	raw, err := json.Marshal(patch)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	cluster.injected <- sc.AppID
	pt := admissionv1.PatchTypeJSONPatch
	return admission.Response{AdmissionResponse: admissionv1.AdmissionResponse{Allowed: true, Patch: raw, PatchType: &pt}}
}

// reapOrphans stops an API server or etcd that an earlier run left behind:
// a test that panics ends the binary before envtest can stop them, and
// they go on running with init as their parent.
func reapOrphans(bins ...string) {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		cmdline, err := os.ReadFile(filepath.Join(d, "cmdline"))
		if err != nil {
			continue
		}
		argv0, _, _ := strings.Cut(string(cmdline), "\x00")
		if !slices.Contains(bins, argv0) {
			continue
		}
		status, _ := os.ReadFile(filepath.Join(d, "status"))
		if !strings.Contains(string(status), "\nPPid:\t1\n") {
			continue
		}
		if pid, err := strconv.Atoi(filepath.Base(d)); err == nil {
			fmt.Fprintf(os.Stderr, "k8s: stopping %s (pid %d), left behind by an earlier run\n", argv0, pid)
			_ = syscall.Kill(pid, syscall.SIGTERM)
		}
	}
}

// moduleDir is where the Go toolchain keeps a dependency of this module.
func moduleDir(mod string) (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", mod).Output()
	if err != nil {
		return "", fmt.Errorf("go list -m %s: %w", mod, err)
	}
	return strings.TrimSpace(string(out)), nil
}

func strict(dryRun bool) *client.CreateOptions {
	o := &client.CreateOptions{FieldValidation: "Strict"}
	if dryRun {
		o.DryRun = []string{metav1.DryRunAll}
	}
	return o
}

// ensureNamespace creates the overlay's Namespace (once) for real.
func ensureNamespace(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	ns := find(objs, "Namespace", Namespace)
	if ns == nil {
		t.Fatalf("the overlay has no Namespace %s", Namespace)
	}
	err := cluster.c.Create(context.Background(), ns.DeepCopy(), strict(false))
	if err != nil && !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("Namespace %s: %v", Namespace, err)
	}
}

// Every overlay renders, and the real API server accepts every object of it
// (server-side create with strict field validation, as a dry run: admission
// and schema validation run, nothing is stored).
func TestOverlaysApply(t *testing.T) {
	apps, err := LoadApps(Root)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range Overlays {
		t.Run(o, func(t *testing.T) {
			objs, err := Render(Root, o)
			if err != nil {
				t.Fatal(err)
			}
			ensureNamespace(t, objs)
			kinds := map[string]int{}
			for _, obj := range objs {
				if obj.GetKind() == "Namespace" {
					continue
				}
				kinds[obj.GetKind()]++
				if err := cluster.c.Create(context.Background(), obj.DeepCopy(), strict(true)); err != nil {
					t.Errorf("%s %s: %v", obj.GetKind(), obj.GetName(), err)
				}
			}
			t.Logf("%s: %d objects accepted: %v", o, len(objs), kinds)
			for _, e := range CheckOverlay(Root, objs, apps) {
				t.Error(e)
			}
		})
	}
}

// The development overlay carries every Secret its components, containers,
// annotations and Roles name.
func TestDevOverlayHasItsSecrets(t *testing.T) {
	objs, err := Render(Root, "dev")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range CheckSecretRefs(objs) {
		t.Error(e)
	}
}

// Every component names a type and version the pinned daprd has (its
// components-contrib module, the version tools/dapr builds), and only
// metadata fields that component reads.
func TestComponentsExistInDaprd(t *testing.T) {
	reg := contribRegistry(t)
	for _, o := range Overlays {
		objs, err := Render(Root, o)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range CheckComponents(objs, reg) {
			t.Errorf("%s: %s", o, e)
		}
	}
}

func contribRegistry(t *testing.T) Registry {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(Root, "tools", "dapr", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	version := ""
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "github.com/dapr/components-contrib" {
			version = f[1]
		}
	}
	if version == "" {
		t.Fatal("tools/dapr/go.mod does not pin github.com/dapr/components-contrib")
	}
	out, err := exec.Command("go", "mod", "download", "-json", "github.com/dapr/components-contrib@"+version).Output()
	if err != nil {
		t.Fatalf("go mod download components-contrib@%s: %v", version, err)
	}
	var dl struct{ Dir string }
	if err := json.Unmarshal(out, &dl); err != nil || dl.Dir == "" {
		t.Fatalf("go mod download: %v %s", err, out)
	}
	reg, err := LoadRegistry(dl.Dir)
	if err != nil || len(reg) < 50 {
		t.Fatalf("registry of components-contrib@%s: %v (%d components)", version, err, len(reg))
	}
	return reg
}

// The dev overlay is created for real; then a pod made from each app's
// workload template goes through the API server, where the mutating
// webhook running Dapr's injector adds daprd, and the restricted Pod
// Security profile of the namespace judges the result. For every app of
// dapr.yaml: the app id and port, the Configuration, the token Secrets and
// the sidecar's resources and security are what we meant.
func TestInjectedSidecars(t *testing.T) {
	ctx := context.Background()
	apps, err := LoadApps(Root)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := Render(Root, "dev")
	if err != nil {
		t.Fatal(err)
	}
	ensureNamespace(t, objs)
	for _, obj := range objs {
		if obj.GetKind() == "Namespace" {
			continue
		}
		err := cluster.c.Create(ctx, obj.DeepCopy(), strict(false))
		if err != nil && !strings.Contains(err.Error(), "already exists") {
			t.Errorf("%s %s: %v", obj.GetKind(), obj.GetName(), err)
		}
	}
	// the namespace enforces the restricted profile: a pod that asks for
	// privileges is refused, so the accepted pods below are judged by it
	bad := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "privileged", Namespace: Namespace},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "x", Image: "x", SecurityContext: &corev1.SecurityContext{Privileged: ptr(true)}}}}}
	if err := cluster.c.Create(ctx, bad, strict(true)); err == nil || !strings.Contains(err.Error(), "restricted") {
		t.Fatalf("a privileged pod in %s: %v, want refused by the restricted Pod Security profile", Namespace, err)
	}
	for _, a := range apps {
		t.Run(a.AppID, func(t *testing.T) {
			w := Workload(objs, a.AppID)
			if w == nil {
				t.Fatalf("no workload for %s", a.AppID)
			}
			tmpl, err := podTemplate(w)
			if err != nil {
				t.Fatal(err)
			}
			pod := &corev1.Pod{ObjectMeta: tmpl.ObjectMeta, Spec: tmpl.Spec}
			pod.Name, pod.Namespace = a.AppID+"-injected", Namespace
			if err := cluster.c.Create(ctx, pod, strict(false)); err != nil {
				t.Fatalf("pod from %s's template: %v", a.AppID, err)
			}
			for _, e := range CheckInjected(pod, a, objs) {
				t.Error(e)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func podTemplate(w *unstructured.Unstructured) (*corev1.PodTemplateSpec, error) {
	switch w.GetKind() {
	case "Deployment":
		var d appsv1.Deployment
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(w.Object, &d); err != nil {
			return nil, err
		}
		return &d.Spec.Template, nil
	case "StatefulSet":
		var s appsv1.StatefulSet
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(w.Object, &s); err != nil {
			return nil, err
		}
		// the StatefulSet controller adds the claim's volume to each pod
		tmpl := s.Spec.Template
		for _, c := range s.Spec.VolumeClaimTemplates {
			tmpl.Spec.Volumes = append(tmpl.Spec.Volumes, corev1.Volume{Name: c.Name,
				VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: c.Name + "-" + w.GetName() + "-0"}}})
		}
		return &tmpl, nil
	}
	return nil, fmt.Errorf("%s is a %s", w.GetName(), w.GetKind())
}

// CheckInjected checks a pod as the API server stored it after injection.
func CheckInjected(pod *corev1.Pod, a RunApp, objs []*unstructured.Unstructured) []string {
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(a.AppID+": "+format, args...)) }
	var names []string
	var daprd *corev1.Container
	for i := range pod.Spec.Containers {
		names = append(names, pod.Spec.Containers[i].Name)
		if pod.Spec.Containers[i].Name == "daprd" {
			daprd = &pod.Spec.Containers[i]
		}
	}
	if daprd == nil || !slices.Equal(names, []string{a.AppID, "daprd"}) {
		bad("containers %v, want [%s daprd]", names, a.AppID)
		return errs
	}
	arg := func(flag string) string {
		for i, v := range daprd.Args {
			if v == flag && i+1 < len(daprd.Args) {
				return daprd.Args[i+1]
			}
		}
		return ""
	}
	if got := arg("--app-id"); got != a.AppID {
		bad("daprd --app-id %q", got)
	}
	if got := arg("--app-port"); got != strconv.Itoa(a.AppPort) {
		bad("daprd --app-port %q, want %d as in dapr.yaml", got, a.AppPort)
	}
	if got := arg("--mode"); got != "kubernetes" {
		bad("daprd --mode %q", got)
	}
	if !slices.Contains(daprd.Args, "--enable-mtls") {
		bad("daprd runs without --enable-mtls")
	}
	cfg := arg("--config")
	if c := find(objs, "Configuration", cfg); c == nil {
		bad("daprd --config %q names no Configuration of the overlay", cfg)
	} else if msg := SameAccessControl(Root, a.AppID, c); msg != "" {
		bad("Configuration %s: %s", cfg, msg)
	}
	if c := cluster.c; c != nil {
		var stored unstructured.Unstructured
		stored.SetAPIVersion("dapr.io/v1alpha1")
		stored.SetKind("Configuration")
		if err := c.Get(context.Background(), client.ObjectKey{Namespace: Namespace, Name: cfg}, &stored); err != nil {
			bad("Configuration %s is not in the API server: %v", cfg, err)
		}
	}
	secretOf := func(name string) string {
		for _, e := range daprd.Env {
			if e.Name == name && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				return e.ValueFrom.SecretKeyRef.Name + "/" + e.ValueFrom.SecretKeyRef.Key
			}
		}
		return ""
	}
	if got := secretOf("DAPR_API_TOKEN"); got != "harmonia-dapr-api-token/token" {
		bad("daprd's DAPR_API_TOKEN comes from %q, want harmonia-dapr-api-token/token", got)
	}
	if got := secretOf("APP_API_TOKEN"); got != "harmonia-app-api-token/token" {
		bad("daprd's APP_API_TOKEN comes from %q, want harmonia-app-api-token/token", got)
	}
	if !slices.ContainsFunc(daprd.Env, func(e corev1.EnvVar) bool { return e.Name == "GOMEMLIMIT" && e.Value != "" }) {
		bad("daprd has no GOMEMLIMIT")
	}
	r := daprd.Resources
	if r.Requests.Cpu().IsZero() || r.Requests.Memory().IsZero() || r.Limits.Memory().IsZero() {
		bad("daprd resources %v", r)
	}
	sc := daprd.SecurityContext
	switch {
	case sc == nil:
		bad("daprd has no securityContext")
	case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}):
		bad("daprd keeps capabilities: %v", sc.Capabilities)
	case sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault:
		bad("daprd seccomp profile %v", sc.SeccompProfile)
	case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		bad("daprd's root filesystem is writable")
	}
	if daprd.ReadinessProbe == nil || daprd.LivenessProbe == nil {
		bad("daprd has no probes")
	}
	return errs
}

// The injector logic and CRDs tested here are the Dapr release the local
// stack runs (tools/dapr builds daprd from it).
func TestSameDaprAsLocal(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(Root, "tools", "dapr", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	local := ""
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "github.com/dapr/dapr" {
			local = f[1]
		}
	}
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", "github.com/dapr/dapr").Output()
	if err != nil {
		t.Fatal(err)
	}
	if here := strings.TrimSpace(string(out)); local == "" || here != local {
		t.Errorf("tests/k8s uses github.com/dapr/dapr %s, tools/dapr builds daprd from %q: keep them equal", here, local)
	}
}
