// Package e2e runs meshd on a kind cluster (build tag e2e): the Gateway API
// conformance suite for the features meshd's GatewayClasses claim in their status.
// It is its own Go module so the conformance suite's dependencies stay out of meshd's.
// Run it with `make kind-up deploy e2e` on a machine with a Docker engine.
package e2e
