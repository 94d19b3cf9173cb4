package dapr

import "testing"

// A Kubernetes Secret's name is a DNS label: the code's secret names map to one.
func TestClusterName(t *testing.T) {
	for in, want := range map[string]string{"AUTH_SIGNING_KEY": "auth-signing-key", "ADMIN_PASSWORD": "admin-password", "already-ok": "already-ok"} {
		if got := ClusterName(in); got != want {
			t.Errorf("ClusterName(%q) = %q, want %q", in, got, want)
		}
	}
}
