//go:build tools

// The packages this module builds; the blank imports keep go mod tidy honest.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver/app"
)
