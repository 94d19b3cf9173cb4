package dapr

import (
	"context"
	"encoding/base64"
	"fmt"

	daprc "github.com/dapr/go-sdk/client"
)

// Files stores whole files through an output binding that supports create
// and get with a fileName (bindings.localstorage locally; object storage
// bindings in a cluster).
type Files struct {
	sc      *Sidecar
	binding string
}

// NewFiles names the binding component.
func NewFiles(sc *Sidecar, binding string) *Files { return &Files{sc: sc, binding: binding} }

// Put writes data under key. The data travels base64-encoded: the local
// storage binding decodes anything that parses as base64, so raw bytes that
// happened to look like base64 would otherwise be stored altered.
func (f *Files) Put(ctx context.Context, key string, data []byte) error {
	c, err := f.sc.Client()
	if err != nil {
		return err
	}
	enc := []byte(base64.StdEncoding.EncodeToString(data))
	_, err = c.InvokeBinding(ctx, &daprc.InvokeBindingRequest{Name: f.binding, Operation: "create", Data: enc,
		Metadata: map[string]string{"fileName": key, "key": key}})
	if err != nil {
		return fmt.Errorf("binding %s create %s: %w", f.binding, key, err)
	}
	return nil
}

// Get reads the file stored under key.
func (f *Files) Get(ctx context.Context, key string) ([]byte, error) {
	c, err := f.sc.Client()
	if err != nil {
		return nil, err
	}
	ev, err := c.InvokeBinding(ctx, &daprc.InvokeBindingRequest{Name: f.binding, Operation: "get",
		Metadata: map[string]string{"fileName": key, "key": key}})
	if err != nil {
		return nil, fmt.Errorf("binding %s get %s: %w", f.binding, key, err)
	}
	return ev.Data, nil
}
