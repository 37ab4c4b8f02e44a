package validate

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	networkingv1 "github.com/meshd-io/meshd/api/networking/v1"
)

var (
	simpleLBs = []string{
		string(networkingv1.SimpleLBUnspecified), string(networkingv1.SimpleLBLeastConn),
		string(networkingv1.SimpleLBRandom), string(networkingv1.SimpleLBPassthrough),
		string(networkingv1.SimpleLBRoundRobin), string(networkingv1.SimpleLBLeastRequest),
	}
	// topologyLabels are the locality labels; failoverPriority may not list them next to
	// failover, which already orders endpoints by region.
	topologyLabels = []string{"topology.kubernetes.io/region", "topology.kubernetes.io/zone", "topology.istio.io/subzone"}
)

// maxMaglevTableSize is Envoy's bound (exclusive) on a Maglev lookup table.
const maxMaglevTableSize = 5000011

func loadBalancer(p *field.Path, lb *networkingv1.LoadBalancerSettings, outlier *networkingv1.OutlierDetection) field.ErrorList {
	if lb == nil {
		return nil
	}
	var errs field.ErrorList
	if lb.Simple != nil {
		if lb.ConsistentHash != nil {
			errs = append(errs, field.Forbidden(p.Child("consistentHash"), "only one of simple or consistentHash may be set"))
		}
		if !slices.Contains(simpleLBs, string(*lb.Simple)) {
			errs = append(errs, field.NotSupported(p.Child("simple"), *lb.Simple, simpleLBs))
		}
	}
	errs = append(errs, consistentHash(p.Child("consistentHash"), lb.ConsistentHash)...)
	errs = append(errs, localityLB(p.Child("localityLbSetting"), lb.LocalityLbSetting)...)
	errs = append(errs, checkDuration(p.Child("warmupDurationSecs"), lb.WarmupDurationSecs, atLeastMillisecond)...)
	if w := lb.Warmup; w != nil {
		wp := p.Child("warmup")
		if w.Duration == "" {
			errs = append(errs, field.Required(wp.Child("duration"), "warmup needs a duration"))
		} else {
			errs = append(errs, checkDuration(wp.Child("duration"), &w.Duration, atLeastMillisecond)...)
		}
		if w.MinimumPercent != nil && (*w.MinimumPercent < 0 || *w.MinimumPercent > 100) {
			errs = append(errs, field.Invalid(wp.Child("minimumPercent"), float64(*w.MinimumPercent), "must be in 0-100"))
		}
		if w.Aggression != nil && *w.Aggression < 1 {
			errs = append(errs, field.Invalid(wp.Child("aggression"), float64(*w.Aggression), "must be at least 1 (1 ramps traffic up linearly)"))
		}
	}
	return errs
}

// consistentHash: exactly one hash key (Envoy hashes nothing without one, which is
// random balancing in disguise), one hash algorithm, and a usable Maglev table.
func consistentHash(p *field.Path, ch *networkingv1.ConsistentHashLB) field.ErrorList {
	if ch == nil {
		return nil
	}
	var errs field.ErrorList
	keys := 0
	for _, set := range []bool{ch.HTTPHeaderName != nil, ch.HTTPCookie != nil, ch.UseSourceIP != nil, ch.HTTPQueryParameterName != nil} {
		if set {
			keys++
		}
	}
	if keys != 1 {
		errs = append(errs, field.Invalid(p, "", fmt.Sprintf("exactly one of httpHeaderName, httpCookie, useSourceIp or httpQueryParameterName must be set (found %d)", keys)))
	}
	if ch.HTTPHeaderName != nil && !headerToken.MatchString(*ch.HTTPHeaderName) {
		errs = append(errs, field.Invalid(p.Child("httpHeaderName"), *ch.HTTPHeaderName, "not a valid HTTP header name"))
	}
	if ch.HTTPQueryParameterName != nil && *ch.HTTPQueryParameterName == "" {
		errs = append(errs, field.Invalid(p.Child("httpQueryParameterName"), "", "query parameter name must not be empty"))
	}
	if c := ch.HTTPCookie; c != nil {
		cp := p.Child("httpCookie")
		if c.Name == "" {
			errs = append(errs, field.Required(cp.Child("name"), "the cookie name is required"))
		}
		errs = append(errs, checkDuration(cp.Child("ttl"), c.TTL, nonNegative)...)
		for i, a := range c.Attributes {
			if a.Name == "" {
				errs = append(errs, field.Required(cp.Child("attributes").Index(i).Child("name"), "the attribute name is required"))
			}
		}
	}
	if ch.RingHash != nil && ch.Maglev != nil {
		errs = append(errs, field.Forbidden(p.Child("maglev"), "only one of ringHash or maglev may be set"))
	}
	if ch.MinimumRingSize != 0 && (ch.RingHash != nil || ch.Maglev != nil) {
		errs = append(errs, field.Forbidden(p.Child("minimumRingSize"), "the deprecated minimumRingSize cannot be combined with ringHash or maglev; use ringHash.minimumRingSize"))
	}
	if m := ch.Maglev; m != nil {
		tp := p.Child("maglev", "tableSize")
		switch {
		case m.TableSize == 0:
			errs = append(errs, field.Required(tp, "maglev needs a table size"))
		case m.TableSize >= maxMaglevTableSize:
			errs = append(errs, field.Invalid(tp, m.TableSize, fmt.Sprintf("must be less than %d", maxMaglevTableSize)))
		case !isPrime(m.TableSize):
			errs = append(errs, field.Invalid(tp, m.TableSize, "must be a prime number (Envoy's Maglev needs a prime table size), e.g. 65537"))
		}
	}
	return errs
}

// isPrime is trial division; table sizes are below 5000011.
func isPrime(n uint64) bool {
	if n < 2 {
		return false
	}
	if n%2 == 0 {
		return n == 2
	}
	for f := uint64(3); f <= uint64(math.Sqrt(float64(n))); f += 2 {
		if n%f == 0 {
			return false
		}
	}
	return true
}

// localityLB follows Istio: distribute and failover exclude each other; failover next
// to failoverPriority may not list topology labels; each distribute entry's weights are
// 1-100 and add up to 100; localities are region/zone/subzone with one trailing "*" at
// most and do not overlap; failover names two different regions.
func localityLB(p *field.Path, l *networkingv1.LocalityLoadBalancerSetting) field.ErrorList {
	if l == nil {
		return nil
	}
	if len(l.Distribute) > 0 && len(l.Failover) > 0 {
		return field.ErrorList{field.Forbidden(p.Child("failover"), "distribute and failover cannot both be set")}
	}
	var errs field.ErrorList
	for i, label := range l.FailoverPriority {
		lp := p.Child("failoverPriority").Index(i)
		if label == "" {
			errs = append(errs, field.Invalid(lp, label, "label must not be empty"))
		} else if len(l.Failover) > 0 && slices.Contains(topologyLabels, strings.SplitN(label, "=", 2)[0]) {
			errs = append(errs, field.Invalid(lp, label, "topology labels cannot be listed together with failover"))
		}
	}
	from := make([]string, len(l.Distribute))
	for i, d := range l.Distribute {
		dp := p.Child("distribute").Index(i)
		from[i] = d.From
		var total uint64
		for _, to := range slices.Sorted(maps.Keys(d.To)) {
			w := d.To[to]
			if w < 1 || w > 100 {
				errs = append(errs, field.Invalid(dp.Child("to").Key(to), uint32(w), "locality weight must be in 1-100"))
			}
			total += uint64(w)
		}
		if total != 100 {
			errs = append(errs, field.Invalid(dp.Child("to"), total, "locality weights must add up to 100"))
		}
		errs = append(errs, localities(dp.Child("to"), slices.Sorted(maps.Keys(d.To)), true)...)
	}
	errs = append(errs, localities(p.Child("distribute"), from, false)...)
	for i, f := range l.Failover {
		fp := p.Child("failover").Index(i)
		switch {
		case f.From == f.To:
			errs = append(errs, field.Invalid(fp, f.From, "failover from and to must name different regions"))
		case strings.Contains(f.From, "/") || strings.Contains(f.To, "/"):
			errs = append(errs, field.Invalid(fp, f.From+" -> "+f.To, "failover names regions only (no zone/subzone)"))
		case strings.Contains(f.From, "*") || strings.Contains(f.To, "*"):
			errs = append(errs, field.Invalid(fp, f.From+" -> "+f.To, "failover regions cannot contain the * wildcard"))
		}
	}
	return errs
}

// localities checks region[/zone[/subzone]] strings: no empty part, one "*" at most and
// only at the end, and no locality covered by an earlier one. keyed says the strings are
// map keys (errors name the key) rather than list entries (errors name the index).
func localities(p *field.Path, locs []string, keyed bool) field.ErrorList {
	var errs field.ErrorList
	var earlier []string
	for i, loc := range locs {
		lp := p.Index(i).Child("from")
		if keyed {
			lp = p.Key(loc)
		}
		if n := strings.Count(loc, "*"); n > 1 || (n == 1 && !strings.HasSuffix(loc, "*")) {
			errs = append(errs, field.Invalid(lp, loc, "a locality may hold one * wildcard, at its end"))
			continue
		}
		parts := strings.SplitN(loc, "/", 3)
		if slices.Contains(parts, "") {
			errs = append(errs, field.Invalid(lp, loc, "a locality is region/zone/subzone with no empty part"))
			continue
		}
		for _, e := range earlier {
			if localityOverlaps(e, loc) {
				errs = append(errs, field.Invalid(lp, loc, "locality overlaps "+e))
				break
			}
		}
		earlier = append(earlier, loc)
	}
	return errs
}

// localityOverlaps reports whether two localities select common endpoints: one is a
// prefix of the other by whole parts, or a "*" part covers the other's.
func localityOverlaps(a, b string) bool {
	ap, bp := strings.Split(a, "/"), strings.Split(b, "/")
	for i := 0; i < len(ap) && i < len(bp); i++ {
		if ap[i] == "*" || bp[i] == "*" {
			return true
		}
		if ap[i] != bp[i] {
			return false
		}
	}
	return true
}
