// Package dapr only exists so that this module has a package; the runtime's
// binaries are declared with go.mod's tool directive and built by scripts/build-dapr.sh.
package dapr
