// Command workflow is the workflow floor's app: a bare Dapr workflow of
// three no-op activities behind one sidecar, on the same kind of actor
// state store as the checkout saga's, so a benchmark measures what Dapr
// Workflow itself costs. POST /run starts one and answers when it has
// completed (200) or failed (500). Probes are on ADMIN_ADDR, default
// 127.0.0.1:<app port + 100>, where the launcher looks.
package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/dapr/durabletask-go/workflow"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "workflow floor:", err)
		os.Exit(1)
	}
}

func run() error {
	port, err := strconv.Atoi(os.Getenv("APP_PORT"))
	if err != nil {
		port = 8182
	}
	admin := os.Getenv("ADMIN_ADDR")
	if admin == "" {
		admin = "127.0.0.1:" + strconv.Itoa(port+100)
	}
	token := os.Getenv("DAPR_API_TOKEN")
	withToken := func(ctx context.Context) context.Context {
		if token == "" {
			return ctx
		}
		return metadata.AppendToOutgoingContext(ctx, "dapr-api-token", token)
	}
	conn, err := grpc.NewClient("127.0.0.1:"+os.Getenv("DAPR_GRPC_PORT"),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			return invoker(withToken(ctx), method, req, reply, cc, opts...)
		}),
		grpc.WithStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			return streamer(withToken(ctx), desc, cc, method, opts...)
		}))
	if err != nil {
		return err
	}
	defer conn.Close()
	noop := func(workflow.ActivityContext) (any, error) { return nil, nil }
	reg := workflow.NewRegistry()
	if err := reg.AddWorkflowN("floor", func(ctx *workflow.WorkflowContext) (any, error) {
		for _, name := range []string{"one", "two", "three"} {
			if err := ctx.CallActivity(name).Await(nil); err != nil {
				return nil, err
			}
		}
		return nil, nil
	}); err != nil {
		return err
	}
	for _, name := range []string{"one", "two", "three"} {
		if err := reg.AddActivityN(name, noop); err != nil {
			return err
		}
	}
	wf := workflow.NewClient(conn)
	started := make(chan struct{})
	ok := func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }
	probes := http.NewServeMux()
	probes.HandleFunc("/healthz", ok)
	probes.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		select {
		case <-started:
			w.WriteHeader(http.StatusOK)
		default:
			http.Error(w, "workflow worker not started", http.StatusServiceUnavailable)
		}
	})
	go func() { _ = http.ListenAndServe(admin, probes) }()
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", ok)
	mux.HandleFunc("POST /run", func(w http.ResponseWriter, r *http.Request) {
		id, err := wf.ScheduleWorkflow(r.Context(), "floor", workflow.WithInstanceID(uuid.NewString()))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		md, err := wf.WaitForWorkflowCompletion(r.Context(), id)
		if err != nil || md.RuntimeStatus != workflow.StatusCompleted {
			http.Error(w, fmt.Sprintf("workflow %s: %v", id, err), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	// the sidecar connects to the app port before its workflow engine
	// answers, so serve first, then start the worker
	srvErr := make(chan error, 1)
	go func() { srvErr <- http.ListenAndServe("127.0.0.1:"+strconv.Itoa(port), mux) }()
	for {
		// the worker lives as long as this context
		if err = wf.StartWorker(context.Background(), reg); err == nil {
			break
		}
		select {
		case err := <-srvErr:
			return err
		case <-time.After(500 * time.Millisecond):
		}
	}
	close(started)
	return <-srvErr
}
