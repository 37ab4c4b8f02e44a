package sidecargen

import (
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	originaldstv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/original_dst/v3"

	"github.com/meshd-io/meshd/internal/xds/render"
)

// originalDstFilter restores the destination iptables redirected from.
const originalDstFilter = "envoy.filters.listener.original_dst"

// Application protocols the http_inspector reports for plaintext HTTP.
var plaintextHTTP = []string{"http/1.1", "h2c"}

func originalDst() *listenerv3.ListenerFilter {
	return render.ListenerFilter(originalDstFilter, &originaldstv3.OriginalDst{})
}
