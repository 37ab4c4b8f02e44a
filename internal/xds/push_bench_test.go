package xds

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/go-logr/logr"

	"github.com/meshd-io/meshd/internal/model"
	"github.com/meshd-io/meshd/internal/testutil/adsclient"
	"github.com/meshd-io/meshd/internal/translate"
)

// BenchmarkEndpointPushToStreams is one endpoint change reaching 500 incremental
// sidecar streams over loopback gRPC, until every stream has ACKed it: what the xDS
// server spends per stream and push (its response, the ACK, the watch opened again,
// the tracker's bookkeeping), the cost endpoint churn multiplies by every proxy. The
// clients run in the same process; a CPU profile tells the two apart.
func BenchmarkEndpointPushToStreams(b *testing.B) {
	const streams = 500
	var svcs []*model.Service
	for i := range 100 {
		svcs = append(svcs, httpService("shop", fmt.Sprintf("svc-%d", i), fmt.Sprintf("10.0.0.%d", i+1)))
	}
	snap := model.NewSnapshot(model.Inputs{Services: svcs})
	out, _ := translate.Translate(snap)
	srv := NewServer(logr.Discard())
	srv.Update(out)
	eps := endpointsOf(snap)
	srv.UpdateEndpoints(eps)
	conn := serve(b, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	clients := make([]*adsclient.DeltaClient, streams)
	for i := range clients {
		c, err := adsclient.DialDelta(ctx, conn, &corev3.Node{Id: fmt.Sprintf("sidecar~10.1.%d.%d~app-%d.shop~shop.svc.cluster.local", i/250, i%250, i)},
			resourcev3.ClusterType, resourcev3.EndpointType, resourcev3.ListenerType, resourcev3.RouteType)
		if err != nil {
			b.Fatal(err)
		}
		clients[i] = c
	}
	acked := func(want int) {
		for _, c := range clients {
			if err := c.WaitAcks(ctx, resourcev3.EndpointType, want); err != nil {
				b.Fatalf("waiting for %d endpoint ACKs: %v", want, err)
			}
		}
	}
	acked(1)
	key := model.EndpointKey{Hostname: svcs[0].Hostname, Port: 80}
	for i := 0; b.Loop(); i++ {
		next := make(model.EndpointIndex, len(eps))
		for k, v := range eps {
			next[k] = v
		}
		moved := append([]model.Endpoint(nil), eps[key]...)
		moved[0].Address = fmt.Sprintf("10.9.%d.%d", i/250%250, i%250+1)
		next[key] = moved
		srv.UpdateEndpoints(next)
		eps = next
		acked(2 + i)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*streams), "ns/stream-push")
}
