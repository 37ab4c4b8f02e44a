package xds

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/go-logr/logr"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/meshd-io/meshd/internal/ir"
)

// TestMoveWhileSubscribing: an incremental stream keeps changing its endpoint
// subscriptions while config changes move its watch between scopes. go-control-plane
// rewrites the subscription as soon as a watch's cancel returns, so the cancel waits for
// a move still reading it (run with -race to see the difference); once the stream
// closes, no cache holds a watch of it.
func TestMoveWhileSubscribing(t *testing.T) {
	byLabels, eps := mongoBySourceLabels(t)
	irs := []*ir.IR{byLabels("someone-else"), byLabels("batch-job")}
	s := NewServer(logr.Discard())
	s.Update(irs[0])
	s.UpdateEndpoints(eps)
	conn := serve(t, s)
	ads := discoveryv3.NewAggregatedDiscoveryServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	node := &corev3.Node{Id: "sidecar~10.1.0.9~job-1.db~db.svc.cluster.local", Metadata: &structpb.Struct{Fields: map[string]*structpb.Value{
		"LABELS": structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{"app": structpb.NewStringValue("batch-job")}}),
	}}}
	st, err := ads.DeltaAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for i := range 8 {
		names = append(names, fmt.Sprintf("n%d", i))
	}
	if err := st.Send(&discoveryv3.DeltaDiscoveryRequest{Node: node, TypeUrl: resourcev3.EndpointType, ResourceNamesSubscribe: names}); err != nil {
		t.Fatal(err)
	}
	for {
		s.watchMu.Lock()
		n := len(s.watches)
		s.watchMu.Unlock()
		if n > 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	go func() {
		for {
			if _, err := st.Recv(); err != nil {
				return
			}
		}
	}()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ctx.Err() == nil && i < 300; i++ {
			s.Update(irs[i%2])
			time.Sleep(5 * time.Millisecond)
		}
	}()
	for i := 0; ; i++ {
		select {
		case <-done:
			st.CloseSend()
			cancel()
			time.Sleep(500 * time.Millisecond)
			s.mu.Lock()
			for _, sc := range s.scopes {
				for typ, c := range sc.caches {
					c.mu.Lock()
					n := 0
					for _, ws := range c.named {
						n += len(ws)
					}
					if n+len(c.broad)+len(c.wildcard) > 0 {
						t.Errorf("scope %s type %s: %d named, %d broad, %d wildcard watches left after the stream closed", sc.key, typ, n, len(c.broad), len(c.wildcard))
					}
					c.mu.Unlock()
				}
			}
			s.mu.Unlock()
			return
		default:
		}
		n := names[i%len(names)]
		req := &discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.EndpointType}
		if i%2 == 0 {
			req.ResourceNamesUnsubscribe = []string{n}
		} else {
			req.ResourceNamesSubscribe = []string{n}
		}
		if err := st.Send(req); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
}
