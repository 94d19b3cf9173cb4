package proxy

import (
	"net/http"
	"testing"
)

func TestDeviceClass(t *testing.T) {
	cases := []struct{ client, ua, want string }{
		{"Mobile", "", "mobile"},
		{"desktop", "Mozilla/5.0 (iPhone)", "desktop"}, // the client's word wins
		{"toaster", "", "other"},
		{"", "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Mobile Safari/537.36", "mobile"},
		{"", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)", "mobile"},
		{"", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120 Safari/537.36", "web"},
		{"", "Mozilla/5.0 (Windows NT 10.0) Harmonia/1.0 Electron/28", "desktop"},
		{"", "curl/8.5.0", "other"},
		{"", "", "other"},
	}
	for _, c := range cases {
		h := http.Header{}
		if c.client != "" {
			h.Set("X-Harmonia-Client", c.client)
		}
		if c.ua != "" {
			h.Set("User-Agent", c.ua)
		}
		if got := DeviceClass(h); got != c.want {
			t.Errorf("client %q, UA %q: %s, want %s", c.client, c.ua, got, c.want)
		}
	}
}
