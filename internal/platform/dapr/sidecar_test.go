package dapr

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/harmonia-music/harmonia/internal/platform"
)

// A sidecar that starts after the app, or comes back after a restart, is
// reached at once: calls made while it was away do not leave the connection
// in gRPC's default backoff (which grows to two minutes while every call
// fails at once). The seed import after 'make run' answered 500 that way.
func TestSidecarIsReachedSoonAfterItStarts(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().(*net.TCPAddr)
	_ = l.Close() // nobody listens yet
	sc := NewSidecar(platform.Common{AppID: "albums", DaprGRPCPort: addr.Port, DaprHTTPPort: 1})
	defer sc.Close()
	kv := NewStateStore(sc, "albums-store")
	for i := 0; i < 6; i++ { // refused for three seconds: the default backoff would now be four
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		_, _, err := kv.Get(ctx, "k")
		cancel()
		if err == nil {
			t.Fatal("a state read succeeded with no sidecar listening")
		}
	}
	l, err = net.Listen("tcp", addr.String())
	if err != nil {
		t.Skipf("the port was taken meanwhile: %v", err)
	}
	srv := grpc.NewServer() // answers every method Unimplemented: proof it was reached
	go func() { _ = srv.Serve(l) }()
	defer srv.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, _, err = kv.Get(ctx, "k")
	var se interface{ GRPCStatus() *status.Status }
	if !errors.As(err, &se) || se.GRPCStatus().Code() != codes.Unimplemented {
		t.Fatalf("the read did not reach the sidecar that started: %v", err)
	}
}
