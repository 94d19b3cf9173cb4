#!/usr/bin/env bash
# Builds a real kube-apiserver and etcd from the Kubernetes sources
# (tools/kube) into .bin/kube/ for make test-k8s; only when missing or when
# tools/kube/go.sum changed. The first build takes about ten minutes on two
# cores; later runs reuse the binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="$PWD/.bin/kube"
K8S_VERSION=v1.34.4
mkdir -p "$BIN"
stamp="$BIN/.build"
want="${K8S_VERSION} $(sha256sum tools/kube/go.sum | cut -d' ' -f1)"
if [ -x "$BIN/kube-apiserver" ] && [ -x "$BIN/etcd" ] && [ "$(cat "$stamp" 2>/dev/null || true)" = "$want" ]; then
  exit 0
fi
t0=$(date +%s)
echo "test-k8s: building kube-apiserver ${K8S_VERSION} and etcd into .bin/kube/ — the first build takes about ten minutes"
go -C tools/kube build \
  -ldflags "-X k8s.io/component-base/version.gitVersion=${K8S_VERSION} -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=34" \
  -o "$BIN/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
go -C tools/kube build -o "$BIN/etcd" go.etcd.io/etcd/server/v3
echo "$want" > "$stamp"
echo "test-k8s: kube-apiserver and etcd built in $(( $(date +%s) - t0 ))s"
