// Command devstack is the launcher behind 'make run': it reads dapr.yaml and
// runs the whole Harmonia stack on this machine, Dapr CLI not needed.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/harmonia-music/harmonia/internal/devstack"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Environ(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "devstack:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args, environ []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("devstack", flag.ContinueOnError)
	file := fs.String("f", "dapr.yaml", "the Multi-App Run file")
	data := fs.String("data", "", "data directory (state, logs, certificates); default .data beside the run file")
	offset := fs.Int("port-offset", 0, "add this to every port, to run beside another stack")
	apps := fs.String("apps", "", "comma-separated subset of app ids (default: all)")
	infra := fs.Bool("infra", false, "start only Redis, Mailpit, Sentry, placement and scheduler (for 'dapr run -f .')")
	seed := fs.Bool("seed", true, "create the demo accounts")
	catalog := fs.String("catalog", devstack.CatalogDemo, "seed catalogue: demo (40 artists, 120 albums, 1,200 tracks with audio), large (100,000 tracks, metadata only) or none")
	overlay := fs.String("resources-overlay", "", "a folder of Dapr resources that replace the same-named files (components/postgres: state on PostgreSQL)")
	restart := fs.Bool("restart", false, "restart an app that dies instead of stopping everything (crash tests)")
	pprof := fs.Bool("pprof", false, "each app serves net/http/pprof on 127.0.0.1:<app port + 200> and its sidecar on <app port + 300> (benchmarks, fault hunting)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var subset []string
	if *apps != "" {
		subset = strings.Split(*apps, ",")
	}
	st, err := devstack.New(devstack.Options{RunFile: *file, DataDir: *data, PortOffset: *offset, Apps: subset,
		InfraOnly: *infra, Seed: *seed, Catalog: *catalog, Pprof: *pprof, Restart: *restart, Overlay: *overlay, Env: environ, Out: stdout})
	if err != nil {
		return err
	}
	began := time.Now()
	fmt.Fprintln(stdout, "starting Harmonia…")
	if err := st.Start(ctx); err != nil {
		return err
	}
	defer func() {
		fmt.Fprintln(stdout, "stopping…")
		st.Stop()
		fmt.Fprintln(stdout, "stopped")
	}()
	report(stdout, st.Info(), time.Since(began), *infra)
	return st.Wait(ctx)
}

func report(w io.Writer, in devstack.Info, took time.Duration, infra bool) {
	fmt.Fprintf(w, "\nHarmonia is ready in %s (data: %s, port offset %d)\n\n", took.Round(100*time.Millisecond), in.DataDir, in.PortOffset)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	if in.GatewayURL != "" {
		fmt.Fprintf(tw, "Web player (open this)\t%s/  (listener@harmonia.local / harmonia-listener)\n", in.GatewayURL)
		fmt.Fprintf(tw, "Gateway (public API)\t%s/api/v1\n", in.GatewayURL)
		fmt.Fprintf(tw, "OpenAPI document\t%s/api/v1/openapi.json\n", in.GatewayURL)
		for _, a := range in.Apps {
			if a.AppID == "search" {
				fmt.Fprintf(tw, "Search (signed in)\t%s/api/v1/search?q=miles and /api/v1/search/suggest?q=mi\n", in.GatewayURL)
			}
			if a.AppID == "notifications" {
				fmt.Fprintf(tw, "Notifications (signed in)\t%s/api/v1/me/notifications and, live, /api/v1/me/notifications/stream\n", in.GatewayURL)
			}
			if a.AppID == "analytics" {
				fmt.Fprintf(tw, "Analytics (admin)\t%s/api/v1/admin/analytics/plays?format=svg (also listeners, subscriptions, revenue)\n", in.GatewayURL)
			}
			if a.AppID == "logging" {
				fmt.Fprintf(tw, "Audit log (admin)\t%s/api/v1/admin/audit and /api/v1/admin/audit/verify\n", in.GatewayURL)
			}
		}
	}
	fmt.Fprintf(tw, "Mailpit (email UI)\t%s\n", in.MailpitURL)
	if !infra {
		fmt.Fprintf(tw, "Text messages (SMS)\t%s/sms/ (one file per message)\n", in.DataDir)
	}
	fmt.Fprintf(tw, "Redis (pub/sub)\tlocalhost:%d\n", in.RedisPort)
	fmt.Fprintf(tw, "Placement / scheduler\tlocalhost:%d / localhost:%d\n", in.Ports.Placement, in.Ports.Scheduler)
	fmt.Fprintf(tw, "Logs\t%s/logs/\n", in.DataDir)
	tw.Flush()
	if infra {
		fmt.Fprintln(w, "\nInfrastructure only: now run 'dapr run -f .' in another terminal. Ctrl-C stops everything.")
		return
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "APP\tAPP PORT\tSIDECAR HTTP\tAPP METRICS\tSIDECAR METRICS")
	for _, a := range in.Apps {
		fmt.Fprintf(tw, "%s\t%d\t%d\thttp://127.0.0.1:%d/metrics\thttp://127.0.0.1:%d/metrics\n",
			a.AppID, a.AppPort, a.DaprHTTPPort, a.AdminPort, a.DaprMetricsPort)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nSeed accounts: %s / %s (admin; HARMONIA_ADMIN_PASSWORD overrides), %s / %s (listener)\n",
		devstack.AdminEmail, devstack.AdminDefaultPassword, devstack.DemoListener.Email, devstack.DemoListener.Password)
	if in.GatewayURL != "" {
		fmt.Fprintf(w, "Try: curl -s -X POST %s/api/v1/auth/login -H 'Content-Type: application/json' -d '{\"email\":\"%s\",\"password\":\"%s\"}'\n",
			in.GatewayURL, devstack.DemoListener.Email, devstack.DemoListener.Password)
	}
	fmt.Fprintln(w, "Press Ctrl-C to stop everything.")
}
