package render

import (
	"strings"

	"github.com/meshd-io/meshd/internal/ir"
	"github.com/meshd-io/meshd/internal/model"
)

// Topology labels that failoverPriority compares by locality rather than by pod label.
const (
	regionLabel  = "topology.kubernetes.io/region"
	zoneLabel    = "topology.kubernetes.io/zone"
	subzoneLabel = "topology.istio.io/subzone"
)

// priority is an endpoint's failover priority for a client, as Istio orders them:
// with failoverPriority labels, by how many of the listed labels (in order) the
// endpoint shares with the client; otherwise by locality: same subzone 0, same zone 1,
// same region 2, the region a failover rule names for the client's region 3, other 4.
func priority(lb *ir.LocalityLB, ep model.Endpoint, client Scope) uint32 {
	if lb != nil && len(lb.FailoverPriority) > 0 {
		shared := 0
		for _, key := range lb.FailoverPriority {
			if labelValue(key, ep.Labels, ep.Locality) != labelValue(key, client.Labels, client.Locality) {
				break
			}
			shared++
		}
		return uint32(len(lb.FailoverPriority) - shared)
	}
	l, c := ep.Locality, client.Locality
	switch {
	case l.Region == c.Region && l.Zone == c.Zone && l.Subzone == c.Subzone:
		return 0
	case l.Region == c.Region && l.Zone == c.Zone:
		return 1
	case l.Region == c.Region:
		return 2
	}
	if lb != nil {
		for _, f := range lb.Failover {
			if f.From == c.Region && f.To == l.Region {
				return 3
			}
		}
	}
	return 4
}

func labelValue(key string, labels map[string]string, l model.Locality) string {
	switch key {
	case regionLabel:
		return l.Region
	case zoneLabel:
		return l.Zone
	case subzoneLabel:
		return l.Subzone
	}
	return labels[key]
}

// distribution returns the weight of each endpoint locality under the first distribute
// rule whose "from" matches the client, or nil when none does. A "to" entry's weight
// is shared evenly by the localities it matches; localities no entry matches get none.
func distribution(lb *ir.LocalityLB, client model.Locality, localities []model.Locality) map[model.Locality]uint32 {
	if lb == nil {
		return nil
	}
	for _, d := range lb.Distribute {
		if !localityMatches(d.From, client) {
			continue
		}
		out := map[model.Locality]uint32{}
		for _, to := range d.To {
			var matched []model.Locality
			for _, l := range localities {
				if _, taken := out[l]; !taken && localityMatches(to.Key, l) {
					matched = append(matched, l)
				}
			}
			for _, l := range matched {
				out[l] = max(1, to.Weight*1000/uint32(len(matched)))
			}
		}
		return out
	}
	return nil
}

// localityMatches matches region/zone/subzone patterns where "*" matches anything
// from there on ("us-west/*", "*").
func localityMatches(pattern string, l model.Locality) bool {
	parts := strings.Split(pattern, "/")
	have := []string{l.Region, l.Zone, l.Subzone}
	for i, p := range parts {
		if p == "*" {
			return true
		}
		if i >= len(have) || p != have[i] {
			return false
		}
	}
	return true
}
