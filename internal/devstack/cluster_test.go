package devstack

import (
	"path/filepath"
	"testing"
)

func readComponent(t *testing.T, path string) resource {
	t.Helper()
	rs, err := readResources(path)
	if err != nil || len(rs) != 1 {
		t.Fatalf("%s: %v (%d documents, want 1)", path, err, len(rs))
	}
	return rs[0]
}

// value reads a metadata item: its value, whether it is set, and whether
// it comes from a secret.
func (c resource) value(name string) (v string, set, secret bool) {
	for _, m := range c.Spec.Metadata {
		if m.Name == name {
			if m.Value != nil {
				v = *m.Value
			}
			return v, true, m.SecretKeyRef != nil
		}
	}
	return "", false, false
}

// The cluster's notifications components keep the names the code uses,
// take credentials from the secret store, verify TLS, never fix an SMS
// recipient, and give every replica its own consumer of the live broadcast.
func TestClusterComponents(t *testing.T) {
	dir := filepath.Join(repoRoot, "k8s", "base", "dapr")
	for file, want := range map[string]string{"binding-email.yaml": "bindings.smtp", "binding-sms.yaml": "bindings.twilio.sms"} {
		c := readComponent(t, filepath.Join(dir, file))
		local := readComponent(t, filepath.Join(repoRoot, "components", file))
		if c.Spec.Type != want || c.Metadata.Name != local.Metadata.Name {
			t.Errorf("%s: %s named %q, want %s named %q as locally", file, c.Spec.Type, c.Metadata.Name, want, local.Metadata.Name)
		}
		if len(c.Scopes) != 1 || c.Scopes[0] != "notifications" {
			t.Errorf("%s: scopes %v", file, c.Scopes)
		}
	}
	email := readComponent(t, filepath.Join(dir, "binding-email.yaml"))
	for _, name := range []string{"host", "user", "password"} {
		if _, set, secret := email.value(name); !set || !secret {
			t.Errorf("email: %s must come from the secret store", name)
		}
	}
	if v, _, _ := email.value("skipTLSVerify"); v != "false" {
		t.Errorf("email: skipTLSVerify %q, want \"false\" (the relay's certificate is verified)", v)
	}
	sms := readComponent(t, filepath.Join(dir, "binding-sms.yaml"))
	if _, set, _ := sms.value("toNumber"); set {
		t.Error("sms: the component sets toNumber; each request names its recipient")
	}
	for _, name := range []string{"accountSid", "authToken", "fromNumber"} {
		if _, set, secret := sms.value(name); !set || !secret {
			t.Errorf("sms: %s must come from the secret store", name)
		}
	}
	export := readComponent(t, filepath.Join(dir, "binding-analytics-export.yaml"))
	if export.Metadata.Name != "analytics-export" || export.Spec.Type != "bindings.aws.s3" || len(export.Scopes) != 1 || export.Scopes[0] != "analytics" {
		t.Errorf("analytics-export: %s named %q, scopes %v", export.Spec.Type, export.Metadata.Name, export.Scopes)
	}
	if v, _, _ := export.value("decodeBase64"); v != "true" {
		t.Error("analytics-export: decodeBase64 must be true (the code sends every file base64-encoded)")
	}
	for _, name := range []string{"accessKey", "secretKey"} {
		if _, set, secret := export.value(name); !set || !secret {
			t.Errorf("analytics-export: %s must come from the secret store", name)
		}
	}
	live := readComponent(t, filepath.Join(repoRoot, "k8s", "components", "pubsub-redis", "pubsub-live.yaml"))
	if v, _, _ := live.value("consumerID"); v != "{podName}" {
		t.Errorf("pubsub-live: consumerID %q, want {podName} (each replica hears every broadcast)", v)
	}
}
