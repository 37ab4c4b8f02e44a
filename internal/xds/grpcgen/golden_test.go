package grpcgen

import (
	"testing"

	"github.com/meshd-io/meshd/internal/testutil/xdsgolden"
	"github.com/meshd-io/meshd/internal/xds/render"
)

// TestGolden generates the proxyless gRPC config of testdata/<case>.in.yaml for a
// client in each namespace the input uses and compares it with <case>.out.yaml.
func TestGolden(t *testing.T) {
	xdsgolden.Run(t, Generate, render.Proxyless)
}
