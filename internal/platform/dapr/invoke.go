package dapr

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/harmonia-music/harmonia/internal/platform"
)

// Invoker calls other apps through the sidecar's service-invocation API.
type Invoker struct{ sc *Sidecar }

// NewInvoker returns an Invoker on sc.
func NewInvoker(sc *Sidecar) *Invoker { return &Invoker{sc: sc} }

// Call sends in (when not nil) as JSON to app's path and decodes the answer
// into out (when not nil). A problem answer becomes *platform.UpstreamError;
// a sidecar failure (target down, denied by policy) becomes KindUnavailable.
func (i *Invoker) Call(ctx context.Context, app, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	url := i.sc.HTTPBase + "/v1.0/invoke/" + app + "/method/" + strings.TrimPrefix(path, "/")
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if id := platform.RequestID(ctx); id != "" {
		req.Header.Set(platform.HeaderRequestID, id)
	}
	i.sc.authorize(req)
	resp, err := i.sc.HTTP.Do(req)
	if err != nil {
		return platform.Wrap(platform.KindUnavailable, "upstream-unavailable", app+" is unavailable", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return platform.Wrap(platform.KindUnavailable, "upstream-unavailable", app+" is unavailable", err)
	}
	if resp.StatusCode >= 300 {
		return UpstreamFailure(app, resp.StatusCode, resp.Header.Get("Content-Type"), data)
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("decode answer of %s %s: %w", app, path, err)
		}
	}
	return nil
}

// UpstreamFailure classifies a failed answer: an app's problem is passed on as
// it is; anything else came from a sidecar (target down, access denied,
// timeout) and is reported as the target being unavailable.
func UpstreamFailure(app string, status int, contentType string, body []byte) error {
	mt, _, _ := mime.ParseMediaType(contentType)
	if mt == platform.ProblemContentType {
		var p platform.Problem
		if json.Unmarshal(body, &p) == nil {
			return &platform.UpstreamError{Status: status, Problem: p}
		}
	}
	cause := fmt.Errorf("sidecar answered %d: %.300s", status, body)
	if status == http.StatusForbidden {
		// an access-control policy refused the call: a deployment error, and
		// retrying cannot help
		return platform.Wrap(platform.KindInternal, "internal", "calling "+app+" was refused by policy", cause)
	}
	return platform.Wrap(platform.KindUnavailable, "upstream-unavailable", app+" is unavailable", cause)
}
