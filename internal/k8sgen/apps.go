package k8sgen

// AppSpec is what a pod of one app needs in the cluster beyond dapr.yaml
// (which gives the app id and port). Every app in dapr.yaml must have one:
// Generate fails otherwise, so a new service cannot forget its manifests.
type AppSpec struct {
	// StatefulSet instead of a Deployment: search keeps an index on its own
	// volume and subscribes with a per-pod consumer group named after the pod.
	StatefulSet bool
	// Volume is the data folder of a StatefulSet (a PersistentVolumeClaim).
	Volume string
	// HPA: a HorizontalPodAutoscaler between MinReplicas and MaxReplicas.
	HPA                      bool
	MinReplicas, MaxReplicas int
	// Secrets the sidecar reads through the secretstore component
	// (secretstores.kubernetes): the pod keeps its service-account token and
	// a Role may get exactly these Secrets.
	Secrets []string
	// The app container's memory limit in MiB (GOMEMLIMIT is 90 % of it)
	// and CPU request in millicores.
	MemoryMiB, CPUm int
	// Env is the app's own settings in the cluster.
	Env [][2]string
}

// Apps gives each app of dapr.yaml its cluster needs.
var Apps = map[string]AppSpec{
	"gateway": {HPA: true, MinReplicas: 2, MaxReplicas: 10, MemoryMiB: 512, CPUm: 200},
	"auth": {MemoryMiB: 256, CPUm: 100,
		Secrets: []string{"ADMIN_PASSWORD", "AUTH_SIGNING_KEY", "AUTH_KEY_ENCRYPTION_KEY"}},
	"users":     {MemoryMiB: 256, CPUm: 50},
	"albums":    {HPA: true, MinReplicas: 2, MaxReplicas: 10, MemoryMiB: 512, CPUm: 200},
	"playlists": {MemoryMiB: 256, CPUm: 50},
	"search": {StatefulSet: true, Volume: "/var/lib/harmonia/search", HPA: true, MinReplicas: 2, MaxReplicas: 6,
		MemoryMiB: 1024, CPUm: 200,
		Env: [][2]string{{"SEARCH_INDEX_DIR", "/var/lib/harmonia/search/index"}, {"SEARCH_PUBSUB_NAME", "pubsub-search"}}},
	"subscriptions": {MemoryMiB: 256, CPUm: 50},
	"payments":      {MemoryMiB: 256, CPUm: 50},
	"notifications": {MemoryMiB: 256, CPUm: 50,
		Secrets: []string{"NOTIFICATIONS_LINK_KEY"},
		Env:     [][2]string{{"NOTIFICATIONS_LIVE_PUBSUB", "pubsub-live"}}},
	"logging": {MemoryMiB: 256, CPUm: 100,
		Secrets: []string{"LOGGING_HMAC_KEY", "LOGGING_SIGNING_KEY"}},
	"analytics": {MemoryMiB: 256, CPUm: 100},
}

// Namespace is where Harmonia runs in a cluster.
const Namespace = "harmonia"

// Sidecar resources and settings from Dapr's production guide.
const (
	SidecarCPURequest    = "100m"
	SidecarCPULimit      = "500m"
	SidecarMemoryRequest = "250Mi"
	SidecarMemoryLimit   = "1000Mi"
	SidecarGOMEMLIMIT    = "900MiB"
	// The secrets (key "token") behind Dapr's api-token-secret and
	// app-token-secret annotations.
	DaprAPITokenSecret = "harmonia-dapr-api-token"
	AppAPITokenSecret  = "harmonia-app-api-token"
)
