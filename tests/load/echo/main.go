// Command echo is the floor's app: it answers with the body it got, so a
// benchmark measures Dapr's sidecars and nothing of Harmonia's code. Like
// every app it serves its probes on an admin listener (ADMIN_ADDR, default
// 127.0.0.1:<app port + 100>), which is where the launcher looks.
package main

import (
	"io"
	"net/http"
	"os"
	"strconv"
)

func main() {
	port, err := strconv.Atoi(os.Getenv("APP_PORT"))
	if err != nil {
		port = 8180
	}
	admin := os.Getenv("ADMIN_ADDR")
	if admin == "" {
		admin = "127.0.0.1:" + strconv.Itoa(port+100)
	}
	ok := func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }
	probes := http.NewServeMux()
	probes.HandleFunc("/healthz", ok)
	probes.HandleFunc("/readyz", ok)
	go func() {
		if err := http.ListenAndServe(admin, probes); err != nil {
			os.Exit(1)
		}
	}()
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", ok)
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = io.Copy(w, r.Body)
	})
	srv := &http.Server{Addr: "127.0.0.1:" + strconv.Itoa(port), Handler: mux}
	if err := srv.ListenAndServe(); err != nil {
		os.Exit(1)
	}
}
