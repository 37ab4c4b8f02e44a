package render

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/proto"
)

// TestAutoMTLSSocketIsTheMarshalledContext: the socket assembled from a shared head and
// the cluster's SNI carries the bytes of the whole context marshalled, for every ALPN.
func TestAutoMTLSSocketIsTheMarshalledContext(t *testing.T) {
	for _, spec := range []ClusterSpec{
		{Hostname: "a.ns.svc.cluster.local", Port: 80, Protocol: "HTTP"},
		{Hostname: "b.ns.svc.cluster.local", Port: 8080, Subset: "v1", Protocol: "HTTP2"},
		{Hostname: "c.ns.svc.cluster.local", Port: 9090, Protocol: "GRPC"},
		{Hostname: "d.ns.svc.cluster.local", Port: 5432, Protocol: "TCP"},
		{Hostname: "e.ns.svc.cluster.local", Port: 81, Protocol: "UNKNOWN"},
	} {
		want := MustAny(istioMutual(spec, nil))
		got := autoMTLS(spec)[0].GetTransportSocket().GetTypedConfig()
		if got.GetTypeUrl() != want.GetTypeUrl() || !bytes.Equal(got.GetValue(), want.GetValue()) {
			t.Errorf("%s %s: the assembled context differs from the marshalled one", spec.Protocol, spec.Hostname)
		}
		if !proto.Equal(got, want) {
			t.Errorf("%s %s: not equal as messages", spec.Protocol, spec.Hostname)
		}
	}
}
