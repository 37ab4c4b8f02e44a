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
	applied := map[string]int{}
	shadowed := map[string]map[string]int{} // Sidecar -> winner -> pods
	for _, p := range pods {
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed || p.DeletionTimestamp != nil {
			continue
		}
		winner, matched := "", []string(nil)
		var nsDefault, rootDefault string
		for _, sc := range sidecars {
			key := sc.Namespace + "/" + sc.Name
			selector := sidecarSelector(sc)
			switch {
			case sc.Namespace == p.Namespace && selector != nil:
				if ir.Selects(selector, p.Labels) {
					if winner == "" {
						winner = key
					} else {
						matched = append(matched, key)
					}
				}
			case sc.Namespace == p.Namespace && nsDefault == "":
				nsDefault = key
			case sc.Namespace == rootNS && selector == nil && rootDefault == "":
				rootDefault = key
			}
		}
		if winner == "" {
			winner = nsDefault
		}
		if winner == "" {
			winner = rootDefault
		}
		if winner == "" {
			continue
		}
		applied[winner]++
		for _, m := range matched {
			if shadowed[m] == nil {
				shadowed[m] = map[string]int{}
			}
			shadowed[m][winner]++
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
