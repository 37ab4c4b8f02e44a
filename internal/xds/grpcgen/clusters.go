package grpcgen

import (
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/meshd-io/meshd/internal/ir"
)

// Istio's defaults for outbound clusters.
const defaultConnectTimeout = 10 * time.Second

// cluster renders an EDS cluster with the traffic policy that applies to it.
func cluster(name string, p *ir.TrafficPolicy) *clusterv3.Cluster {
	out := &clusterv3.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		EdsClusterConfig:     &clusterv3.Cluster_EdsClusterConfig{EdsConfig: adsSource(), ServiceName: name},
		ConnectTimeout:       durationpb.New(defaultConnectTimeout),
		// Istio's default balancer.
		LbPolicy: clusterv3.Cluster_LEAST_REQUEST,
	}
	if p == nil {
		return out
	}
	loadBalancer(out, p.LoadBalancer)
	connectionPool(out, p.ConnectionPool)
	out.OutlierDetection = outlierDetection(p.OutlierDetection)
	if od := p.OutlierDetection; od != nil && od.MinHealthPercent != nil {
		// Istio maps minHealthPercent to the panic threshold: below it, ejection stops.
		out.CommonLbConfig = &clusterv3.Cluster_CommonLbConfig{
			HealthyPanicThreshold: &typev3.Percent{Value: float64(*od.MinHealthPercent)}}
	}
	return out
}

func loadBalancer(c *clusterv3.Cluster, lb *ir.LoadBalancer) {
	if lb == nil {
		return
	}
	// grpc-go NACKs RANDOM and MAGLEV (xdsresource/unmarshal_cds.go): RANDOM becomes
	// ROUND_ROBIN and Maglev a ring hash, the nearest policies it has. PASSTHROUGH has
	// no meaning without a proxy and keeps the default.
	switch lb.Simple {
	case "ROUND_ROBIN", "RANDOM":
		c.LbPolicy = clusterv3.Cluster_ROUND_ROBIN
	}
	if h := lb.ConsistentHash; h != nil {
		{
			c.LbPolicy = clusterv3.Cluster_RING_HASH
			ring := &clusterv3.Cluster_RingHashLbConfig{}
			if h.MinRingSize > 0 {
				ring.MinimumRingSize = wrapperspb.UInt64(h.MinRingSize)
			}
			c.LbConfig = &clusterv3.Cluster_RingHashLbConfig_{RingHashLbConfig: ring}
		}
	}
	if lb.Warmup != nil {
		c.LbConfig = nil
		switch c.LbPolicy {
		case clusterv3.Cluster_ROUND_ROBIN:
			c.LbConfig = &clusterv3.Cluster_RoundRobinLbConfig_{RoundRobinLbConfig: &clusterv3.Cluster_RoundRobinLbConfig{
				SlowStartConfig: &clusterv3.Cluster_SlowStartConfig{SlowStartWindow: durationpb.New(*lb.Warmup)}}}
		case clusterv3.Cluster_LEAST_REQUEST:
			c.LbConfig = &clusterv3.Cluster_LeastRequestLbConfig_{LeastRequestLbConfig: &clusterv3.Cluster_LeastRequestLbConfig{
				SlowStartConfig: &clusterv3.Cluster_SlowStartConfig{SlowStartWindow: durationpb.New(*lb.Warmup)}}}
		}
	}
}

func connectionPool(c *clusterv3.Cluster, cp *ir.ConnectionPool) {
	if cp == nil {
		return
	}
	if cp.ConnectTimeout != nil {
		c.ConnectTimeout = durationpb.New(*cp.ConnectTimeout)
	}
	th := &clusterv3.CircuitBreakers_Thresholds{}
	set := false
	for _, f := range []struct {
		v   *uint32
		dst **wrapperspb.UInt32Value
	}{
		{cp.MaxConnections, &th.MaxConnections},
		{cp.MaxPendingRequests, &th.MaxPendingRequests},
		{cp.MaxRequests, &th.MaxRequests},
		{cp.MaxRetries, &th.MaxRetries},
	} {
		if f.v != nil {
			*f.dst = wrapperspb.UInt32(*f.v)
			set = true
		}
	}
	if set {
		c.CircuitBreakers = &clusterv3.CircuitBreakers{Thresholds: []*clusterv3.CircuitBreakers_Thresholds{th}}
	}
	if cp.MaxRequestsPerConnection != nil || cp.IdleTimeout != nil {
		opts := &corev3.HttpProtocolOptions{}
		if cp.MaxRequestsPerConnection != nil {
			opts.MaxRequestsPerConnection = wrapperspb.UInt32(*cp.MaxRequestsPerConnection)
		}
		if cp.IdleTimeout != nil {
			opts.IdleTimeout = durationpb.New(*cp.IdleTimeout)
		}
		c.CommonHttpProtocolOptions = opts
	}
}

// outlierDetection renders Istio's settings; Istio enforces only the failure kinds the
// user set, so the others get enforcement 0. grpc-go ignores every consecutive_* field
// (xdsresource/unmarshal_cds.go) and implements only failure-percentage and
// success-rate ejection, so the consecutive error count is also expressed as a
// failure-percentage rule: an endpoint that failed at least that many of its requests in
// an interval, and more than half of them, is ejected; one host is enough to judge.
func outlierDetection(od *ir.OutlierDetection) *clusterv3.OutlierDetection {
	if od == nil {
		return nil
	}
	out := &clusterv3.OutlierDetection{
		EnforcingConsecutive_5Xx:           wrapperspb.UInt32(0),
		EnforcingConsecutiveGatewayFailure: wrapperspb.UInt32(0),
		EnforcingSuccessRate:               wrapperspb.UInt32(0),
		EnforcingFailurePercentage:         wrapperspb.UInt32(0),
		SplitExternalLocalOriginErrors:     od.SplitLocalOrigin,
	}
	if od.Consecutive5xx != nil {
		out.Consecutive_5Xx = wrapperspb.UInt32(*od.Consecutive5xx)
		if *od.Consecutive5xx > 0 {
			out.EnforcingConsecutive_5Xx = wrapperspb.UInt32(100)
		}
	}
	if od.ConsecutiveGatewayErrors != nil {
		out.ConsecutiveGatewayFailure = wrapperspb.UInt32(*od.ConsecutiveGatewayErrors)
		if *od.ConsecutiveGatewayErrors > 0 {
			out.EnforcingConsecutiveGatewayFailure = wrapperspb.UInt32(100)
		}
	}
	if od.ConsecutiveLocalOriginFails != nil {
		out.ConsecutiveLocalOriginFailure = wrapperspb.UInt32(*od.ConsecutiveLocalOriginFails)
		out.EnforcingConsecutiveLocalOriginFailure = wrapperspb.UInt32(100)
	}
	if volume := consecutiveErrors(od); volume > 0 {
		out.EnforcingFailurePercentage = wrapperspb.UInt32(100)
		out.FailurePercentageThreshold = wrapperspb.UInt32(50)
		out.FailurePercentageRequestVolume = wrapperspb.UInt32(volume)
		out.FailurePercentageMinimumHosts = wrapperspb.UInt32(1)
	}
	if od.Interval != nil {
		out.Interval = durationpb.New(*od.Interval)
	}
	if od.BaseEjectionTime != nil {
		out.BaseEjectionTime = durationpb.New(*od.BaseEjectionTime)
	}
	if od.MaxEjectionPercent != nil {
		out.MaxEjectionPercent = wrapperspb.UInt32(*od.MaxEjectionPercent)
	}
	return out
}

// consecutiveErrors is the smallest consecutive-failure count the policy sets (0: none).
func consecutiveErrors(od *ir.OutlierDetection) uint32 {
	var n uint32
	for _, v := range []*uint32{od.Consecutive5xx, od.ConsecutiveGatewayErrors} {
		if v != nil && *v > 0 && (n == 0 || *v < n) {
			n = *v
		}
	}
	return n
}
