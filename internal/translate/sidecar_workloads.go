package translate

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	networkingv1 "github.com/meshd-io/meshd/api/networking/v1"
	typev1beta1 "github.com/meshd-io/meshd/api/type/v1beta1"
	"github.com/meshd-io/meshd/internal/ir"
	"github.com/meshd-io/meshd/internal/model"
)

// SidecarsConditions says, for each Sidecar ("namespace/name"), which running pods it
// applies to: Istio applies one Sidecar per workload (the oldest whose selector
// matches it, else its namespace's, else the root namespace's), so a Sidecar whose
// selector matches pods an older one already takes is told which, rather than
// counted as applying to them (Istio's analyzer calls such selectors conflicting).
func SidecarsConditions(sidecars []*networkingv1.Sidecar, rootNS string, pods []*corev1.Pod) map[string]metav1.Condition {
	sidecars = model.OldestFirst(sidecars)
	// Which Sidecar a pod gets is the IR's rule (SidecarFor), on the Sidecars' selectors.
	in := &ir.IR{RootNamespace: rootNS}
	for _, sc := range sidecars {
		in.Sidecars = append(in.Sidecars, &ir.Sidecar{Source: sidecarRef(sc), Namespace: sc.Namespace, Selector: sidecarSelector(sc)})
	}
	name := func(ref ir.ConfigRef) string { return ref.Namespace + "/" + ref.Name }
	applied := map[string]int{}
	shadowed := map[string]map[string]int{} // Sidecar -> the older one that takes its pods -> pods
	for _, p := range pods {
		winner := in.SidecarFor(p.Namespace, p.Labels)
		if !running(p) || winner == nil {
			continue
		}
		applied[name(winner.Source)]++
		for _, sc := range in.Sidecars {
			if sc != winner && sc.Namespace == p.Namespace && sc.Selector != nil && ir.Selects(sc.Selector, p.Labels) {
				if shadowed[name(sc.Source)] == nil {
					shadowed[name(sc.Source)] = map[string]int{}
				}
				shadowed[name(sc.Source)][name(winner.Source)]++
			}
		}
	}
	out := make(map[string]metav1.Condition, len(sidecars))
	for _, sc := range sidecars {
		key := sc.Namespace + "/" + sc.Name
		c := metav1.Condition{Type: typev1beta1.ConditionWorkloadsSelected, ObservedGeneration: sc.Generation,
			Status: metav1.ConditionTrue, Reason: ReasonWorkloadsSelected}
		switch n := applied[key]; n {
		case 0:
			c.Status, c.Reason, c.Message = metav1.ConditionFalse, ReasonNoWorkloads, "applies to no running pod"
		case 1:
			c.Message = "applies to 1 pod"
		default:
			c.Message = fmt.Sprintf("applies to %d pods", n)
		}
		if len(shadowed[key]) > 0 {
			var others []string
			for w, n := range shadowed[key] {
				others = append(others, fmt.Sprintf("%d to %s", n, w))
			}
			sort.Strings(others)
			c.Message += "; its selector also matches pods an older Sidecar applies to (" + strings.Join(others, ", ") + ")"
			if applied[key] == 0 {
				c.Reason = ReasonConflicted
			}
		}
		out[key] = c
	}
	return out
}

// sidecarSelector is a Sidecar's workload selector, nil for none; a selector without
// labels matches every workload of the namespace (as translation takes it).
func sidecarSelector(sc *networkingv1.Sidecar) map[string]string {
	if ws := sc.Spec.WorkloadSelector; ws != nil {
		if ws.Labels == nil {
			return map[string]string{}
		}
		return ws.Labels
	}
	return nil
}
