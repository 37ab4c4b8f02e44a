package translate

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"time"

	networkingv1 "github.com/meshd-io/meshd/api/networking/v1"
	"github.com/meshd-io/meshd/internal/ir"
	"github.com/meshd-io/meshd/internal/validate"
)

// destinationRules attaches each valid DestinationRule to the services its host names.
// Invalid rules are reported and left out, so nothing half-valid reaches a proxy.
func (t *translator) destinationRules() {
	for _, dr := range t.snap.DestinationRules {
		ref := ir.ConfigRef{Kind: "DestinationRule", Namespace: dr.Namespace, Name: dr.Name}
		if t.restricted.skips(ref) || !t.begin(ref) {
			continue
		}
		rep := t.report.object(ref, dr.Generation)
		if rep.Invalid = validate.DestinationRule(&dr.Spec); len(rep.Invalid) > 0 {
			continue
		}
		host := t.resolveHost(dr.Spec.Host, dr.Namespace)
		svcs := t.matchingServices(host)
		if len(svcs) == 0 {
			rep.unresolved(ReasonHostNotFound, fmt.Sprintf("host %s matches no service", host))
			continue
		}
		rep.Visibility = exportTo(dr.Spec.ExportTo, dr.Namespace)
		policy := &ir.DestinationPolicy{
			Source: ref, Namespace: dr.Namespace, ExportTo: exportTo(dr.Spec.ExportTo, dr.Namespace),
			Policy: trafficPolicy(dr.Spec.TrafficPolicy),
		}
		if ws := dr.Spec.WorkloadSelector; ws != nil && len(ws.MatchLabels) > 0 {
			policy.WorkloadSelector = ws.MatchLabels
		}
		for _, s := range dr.Spec.Subsets {
			policy.Subsets = append(policy.Subsets, &ir.Subset{Name: s.Name, Labels: s.Labels, Policy: trafficPolicy(s.TrafficPolicy)})
		}
		sort.Slice(policy.Subsets, func(i, j int) bool { return policy.Subsets[i].Name < policy.Subsets[j].Name })
		for _, svc := range svcs {
			t.restricted.mutating(svc)
			svc.Policies = append(svc.Policies, policy)
		}
	}
}

func trafficPolicy(tp *networkingv1.TrafficPolicy) *ir.TrafficPolicy {
	if tp == nil {
		return nil
	}
	out := &ir.TrafficPolicy{
		LoadBalancer:     loadBalancer(tp.LoadBalancer),
		ConnectionPool:   connectionPool(tp.ConnectionPool),
		OutlierDetection: outlierDetection(tp.OutlierDetection),
		TLS:              clientTLS(tp.TLS),
	}
	for _, pl := range tp.PortLevelSettings {
		if pl.Port == nil {
			continue
		}
		out.PortLevel = append(out.PortLevel, &ir.PortPolicy{Port: pl.Port.Number, Policy: &ir.TrafficPolicy{
			LoadBalancer:     loadBalancer(pl.LoadBalancer),
			ConnectionPool:   connectionPool(pl.ConnectionPool),
			OutlierDetection: outlierDetection(pl.OutlierDetection),
			TLS:              clientTLS(pl.TLS),
		}})
	}
	sort.SliceStable(out.PortLevel, func(i, j int) bool { return out.PortLevel[i].Port < out.PortLevel[j].Port })
	return out
}

func loadBalancer(lb *networkingv1.LoadBalancerSettings) *ir.LoadBalancer {
	if lb == nil {
		return nil
	}
	out := &ir.LoadBalancer{}
	if lb.Simple != nil {
		out.Simple = string(*lb.Simple)
	}
	if ch := lb.ConsistentHash; ch != nil {
		h := &ir.ConsistentHash{}
		switch {
		case ch.HTTPHeaderName != nil:
			h.Header = *ch.HTTPHeaderName
		case ch.HTTPCookie != nil:
			h.Cookie = &ir.HashCookie{Name: ch.HTTPCookie.Name, Path: ch.HTTPCookie.Path, TTL: duration(ch.HTTPCookie.TTL)}
		case ch.UseSourceIP != nil && *ch.UseSourceIP:
			h.SourceIP = true
		case ch.HTTPQueryParameterName != nil:
			h.QueryParam = *ch.HTTPQueryParameterName
		}
		switch {
		case ch.Maglev != nil:
			h.Maglev, h.MaglevTableSize = true, ch.Maglev.TableSize
		case ch.RingHash != nil:
			h.MinRingSize = ch.RingHash.MinimumRingSize
		default:
			h.MinRingSize = ch.MinimumRingSize // deprecated top-level field
		}
		out.ConsistentHash = h
	}
	if l := lb.LocalityLbSetting; l != nil {
		loc := &ir.LocalityLB{FailoverPriority: l.FailoverPriority, Enabled: l.Enabled}
		for _, d := range l.Distribute {
			ld := ir.LocalityDistribute{From: d.From}
			for _, k := range slices.Sorted(maps.Keys(d.To)) {
				ld.To = append(ld.To, ir.KeyWeight{Key: k, Weight: uint32(d.To[k])})
			}
			loc.Distribute = append(loc.Distribute, ld)
		}
		for _, f := range l.Failover {
			loc.Failover = append(loc.Failover, ir.LocalityFailover{From: f.From, To: f.To})
		}
		out.Locality = loc
	}
	if lb.Warmup != nil {
		out.Warmup = duration(&lb.Warmup.Duration)
	} else if lb.WarmupDurationSecs != nil {
		out.Warmup = duration(lb.WarmupDurationSecs)
	}
	return out
}

func connectionPool(cp *networkingv1.ConnectionPoolSettings) *ir.ConnectionPool {
	if cp == nil {
		return nil
	}
	out := &ir.ConnectionPool{}
	if tcp := cp.TCP; tcp != nil {
		out.MaxConnections = positive(tcp.MaxConnections)
		out.ConnectTimeout = duration(tcp.ConnectTimeout)
	}
	if h := cp.HTTP; h != nil {
		out.MaxPendingRequests = positive(h.HTTP1MaxPendingRequests)
		out.MaxRequests = positive(h.HTTP2MaxRequests)
		out.MaxRequestsPerConnection = positive(h.MaxRequestsPerConnection)
		out.MaxRetries = positive(h.MaxRetries)
		out.IdleTimeout = duration(h.IdleTimeout)
		out.MaxConcurrentStreams = positive(h.MaxConcurrentStreams)
		out.H2Upgrade = string(h.H2UpgradePolicy)
	}
	return out
}

func outlierDetection(od *networkingv1.OutlierDetection) *ir.OutlierDetection {
	if od == nil {
		return nil
	}
	out := &ir.OutlierDetection{
		ConsecutiveGatewayErrors:    od.ConsecutiveGatewayErrors,
		ConsecutiveLocalOriginFails: od.ConsecutiveLocalOriginFailures,
		SplitLocalOrigin:            od.SplitExternalLocalOriginErrors,
		Interval:                    duration(od.Interval),
		BaseEjectionTime:            duration(od.BaseEjectionTime),
		MaxEjectionPercent:          positive(od.MaxEjectionPercent),
		MinHealthPercent:            positive(od.MinHealthPercent),
	}
	switch {
	case od.Consecutive5xxErrors != nil:
		out.Consecutive5xx = od.Consecutive5xxErrors
	case od.ConsecutiveErrors > 0: // deprecated: counted as gateway errors by Istio
		out.ConsecutiveGatewayErrors = positive(od.ConsecutiveErrors)
	}
	return out
}

func clientTLS(tls *networkingv1.ClientTLSSettings) *ir.ClientTLS {
	if tls == nil {
		return nil
	}
	out := &ir.ClientTLS{
		Mode: string(tls.Mode), ClientCertificate: tls.ClientCertificate, PrivateKey: tls.PrivateKey,
		CACertificates: tls.CaCertificates, CredentialName: tls.CredentialName,
		SubjectAltNames: tls.SubjectAltNames, SNI: tls.Sni,
	}
	if tls.InsecureSkipVerify != nil {
		out.InsecureSkipVerify = *tls.InsecureSkipVerify
	}
	return out
}

func duration(d *networkingv1.Duration) *time.Duration {
	if d == nil || *d == "" {
		return nil
	}
	v, err := time.ParseDuration(string(*d))
	if err != nil {
		return nil // the schema and validation refuse bad durations before this
	}
	return &v
}

func positive(n int32) *uint32 {
	if n <= 0 {
		return nil
	}
	v := uint32(n)
	return &v
}
