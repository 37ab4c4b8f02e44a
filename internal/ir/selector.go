package ir

import (
	"maps"
	"slices"
	"strings"
)

// Selects reports whether labels satisfy selector: every key present with the same
// value. An empty selector selects everything.
func Selects(selector, labels map[string]string) bool {
	for k, v := range selector {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// SelectorKey is a selector's canonical form, "k1=v1,k2=v2" with keys sorted.
func SelectorKey(selector map[string]string) string {
	if len(selector) == 1 {
		// The common case (app=x), without sorting: keys are built for every
		// selector of the mesh on every translation.
		for k, v := range selector {
			return k + "=" + v
		}
	}
	var b strings.Builder
	for i, k := range slices.Sorted(maps.Keys(selector)) {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k + "=" + selector[k])
	}
	return b.String()
}

// ClientSignature names what of a client's labels and locality ("region/zone/subzone")
// its config depends on: the client selectors its labels satisfy, its locality when
// some cluster is locality-aware, and the values of failoverPriority labels. Two
// clients of one class and namespace with equal signatures get equal config, so they
// share a scope: config is generated per signature, not per workload.
func (in *IR) ClientSignature(labels map[string]string, locality string) string {
	var b strings.Builder
	for _, sel := range in.ClientSelectors {
		if Selects(sel, labels) {
			if b.Len() > 0 {
				b.WriteByte(';')
			}
			b.WriteString(SelectorKey(sel))
		}
	}
	if in.LocalityAware {
		b.WriteString("@" + locality)
	}
	for _, k := range in.PriorityLabels {
		b.WriteString("|" + k + "=" + labels[k])
	}
	return b.String()
}

// SameClientSignatures reports whether every client has the same signature under both
// IRs (the inputs of ClientSignature are equal), so no proxy changes scope.
func (in *IR) SameClientSignatures(other *IR) bool {
	if in == nil || other == nil {
		return in == other
	}
	return in.LocalityAware == other.LocalityAware && slices.Equal(in.PriorityLabels, other.PriorityLabels) &&
		slices.EqualFunc(in.ClientSelectors, other.ClientSelectors, maps.Equal[map[string]string])
}

// collectClientSelectors gathers every selector that narrows clients (sourceLabels of
// route matches, DestinationRule and Sidecar workloadSelectors), deduplicated and sorted, and what
// makes endpoints depend on the client (locality-aware policies, failoverPriority).
func (in *IR) collectClientSelectors() {
	set := make(map[string]map[string]string, len(in.AuthorizationPolicies)+len(in.PeerAuthentications))
	add := func(sel map[string]string) {
		if len(sel) > 0 {
			set[SelectorKey(sel)] = sel
		}
	}
	// Policies carry their key; it is worked out here only for IR built by hand.
	addKeyed := func(sel map[string]string, key string) {
		switch {
		case len(sel) == 0:
		case key == "":
			add(sel)
		default:
			set[key] = sel
		}
	}
	priorityLabels := map[string]bool{}
	in.LocalityAware = false
	policy := func(t *TrafficPolicy) {
		if t == nil {
			return
		}
		for _, tp := range append([]*TrafficPolicy{t}, portPolicies(t)...) {
			if tp.LocalityAware() {
				in.LocalityAware = true
				if lb := tp.LoadBalancer; lb != nil && lb.Locality != nil {
					for _, k := range lb.Locality.FailoverPriority {
						priorityLabels[k] = true
					}
				}
			}
		}
	}
	for _, pa := range in.PeerAuthentications {
		addKeyed(pa.Selector, pa.SelectorKey)
	}
	for _, ap := range in.AuthorizationPolicies {
		addKeyed(ap.Selector, ap.SelectorKey)
	}
	for _, sc := range in.Sidecars {
		addKeyed(sc.Selector, sc.SelectorKey)
	}
	for _, svc := range in.Services {
		for _, p := range svc.Policies {
			add(p.WorkloadSelector)
			policy(p.Policy)
			for _, ss := range p.Subsets {
				policy(ss.Policy)
			}
		}
		for _, port := range svc.Ports {
			for _, t := range port.RouteTables {
				for _, r := range t.Routes {
					for _, m := range r.Matches {
						add(m.SourceLabels)
					}
				}
			}
			for _, t := range port.L4Tables {
				for _, r := range append(slices.Clone(t.TLS), t.TCP...) {
					for _, m := range r.Matches {
						add(m.SourceLabels)
					}
				}
			}
		}
	}
	in.ClientSelectors = nil
	for _, k := range slices.Sorted(maps.Keys(set)) {
		in.ClientSelectors = append(in.ClientSelectors, set[k])
	}
	in.PriorityLabels = slices.Sorted(maps.Keys(priorityLabels))
}

func portPolicies(t *TrafficPolicy) []*TrafficPolicy {
	var out []*TrafficPolicy
	for _, pl := range t.PortLevel {
		if pl.Policy != nil {
			out = append(out, t.ForPort(pl.Port))
		}
	}
	return out
}

// Finish computes what is derived from the IR's content; translation calls it last.
func (in *IR) Finish() {
	in.collectClientSelectors()
	in.indexServices()
}
