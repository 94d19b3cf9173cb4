// Package dapr adapts the platform's ports (state, publish, invoke, secrets)
// to the app's Dapr sidecar. Apps name components; they never name a host, a
// database or a vendor.
package dapr

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	daprc "github.com/dapr/go-sdk/client"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/harmonia-music/harmonia/internal/platform"
)

// Sidecar is the app's connection to its own daprd: gRPC (through the Go SDK)
// for state, pub/sub and secrets; HTTP for service invocation, which keeps
// status codes, headers and streaming.
type Sidecar struct {
	HTTPBase string
	appID    string
	apiToken string
	grpcAddr string
	HTTP     *http.Client

	once   sync.Once
	client daprc.Client
	conn   *grpc.ClientConn
	err    error
}

// NewSidecar describes the sidecar from the app's common configuration. It
// does not dial: the connection is made on first use, so an app can start
// before its sidecar is up.
func NewSidecar(cfg platform.Common) *Sidecar {
	daprc.SetLogger(nil) // the SDK's plain-text lines would break the JSON log stream
	return &Sidecar{
		HTTPBase: "http://127.0.0.1:" + strconv.Itoa(cfg.DaprHTTPPort),
		appID:    cfg.AppID,
		apiToken: cfg.DaprAPIToken,
		grpcAddr: "127.0.0.1:" + strconv.Itoa(cfg.DaprGRPCPort),
		HTTP: &http.Client{Transport: &http.Transport{
			MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: 90 * time.Second,
			DisableCompression: true,
		}},
	}
}

// AppID is the app this sidecar serves.
func (s *Sidecar) AppID() string { return s.appID }

// unaryWait bounds a sidecar call whose caller set no deadline: a call made
// while the sidecar is down waits for it this long, then fails.
const unaryWait = 30 * time.Second

// Client returns the SDK client, connecting on first use (non-blocking).
func (s *Sidecar) Client() (daprc.Client, error) {
	s.once.Do(func() {
		token := s.apiToken
		auth := func(ctx context.Context) context.Context {
			if token == "" {
				return ctx
			}
			return metadata.AppendToOutgoingContext(ctx, platform.HeaderAppToken, token)
		}
		s.conn, s.err = grpc.NewClient(s.grpcAddr,
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			// audio files travel through bindings: allow messages larger than gRPC's 4 MiB
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20), grpc.MaxCallSendMsgSize(64<<20)),
			// The sidecar is local and may start after the app or be
			// restarted: reconnect within a second (gRPC's default backoff
			// grows to two minutes, and meanwhile every call failed at once:
			// a seed import right after start answered 500 because an early
			// call had found daprd not listening yet).
			grpc.WithConnectParams(grpc.ConnectParams{MinConnectTimeout: 5 * time.Second,
				Backoff: backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second}}),
			grpc.WithUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
				// a call made while the connection is down waits for it,
				// for at most unaryWait when the caller set no deadline
				if _, ok := ctx.Deadline(); !ok {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, unaryWait)
					defer cancel()
				}
				return invoker(auth(ctx), method, req, reply, cc, append(opts, grpc.WaitForReady(true))...)
			}),
			grpc.WithStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
				return streamer(auth(ctx), desc, cc, method, opts...)
			}),
		)
		if s.err == nil {
			s.client = daprc.NewClientWithConnection(s.conn)
		}
	})
	return s.client, s.err
}

// Conn is the raw gRPC connection (for the workflow client).
func (s *Sidecar) Conn() (*grpc.ClientConn, error) {
	if _, err := s.Client(); err != nil {
		return nil, err
	}
	return s.conn, nil
}

// Close releases the connection.
func (s *Sidecar) Close() {
	if s.conn != nil {
		_ = s.conn.Close()
	}
}

// authorize adds the sidecar API token to an HTTP request.
func (s *Sidecar) authorize(req *http.Request) {
	if s.apiToken != "" {
		req.Header.Set(platform.HeaderAppToken, s.apiToken)
	}
}

// LocalTool connects a benchmark tool to an app's sidecar on the local
// stack: the sidecar's ports and token come from the environment
// (DAPR_GRPC_PORT, DAPR_HTTP_PORT, DAPR_API_TOKEN), the store's name from
// storeVar (default def). It refuses outside the local stack
// (HARMONIA_LOCAL=1): such tools write generated data.
func LocalTool(getenv func(string) string, app, storeVar, def string) (*Sidecar, string, error) {
	env := platform.NewEnv(getenv)
	common := platform.LoadCommon(env, app)
	store := env.String(storeVar, def)
	if err := env.Err(); err != nil {
		return nil, "", err
	}
	if !common.Local {
		return nil, "", errors.New("this tool writes generated data into " + app + "'s store: only on the local stack (HARMONIA_LOCAL=1)")
	}
	return NewSidecar(common), store, nil
}
