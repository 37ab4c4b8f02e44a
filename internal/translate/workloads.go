package translate

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	securityv1 "github.com/meshd-io/meshd/api/security/v1"
	typev1beta1 "github.com/meshd-io/meshd/api/type/v1beta1"
	"github.com/meshd-io/meshd/internal/ir"
	"github.com/meshd-io/meshd/internal/model"
)

// Reasons of the WorkloadsSelected condition.
const (
	ReasonWorkloadsSelected = "WorkloadsSelected"
	ReasonNoWorkloads       = "NoWorkloads"
	ReasonTargetNotFound    = "TargetNotFound"
)

// WorkloadsCondition says whether a policy of namespace ns with selector (nil: every
// workload) selects any running pod: in its namespace, or anywhere when ns is the root
// namespace. A policy that selects nothing is accepted but does nothing, which is
// worth saying.
func WorkloadsCondition(generation int64, ns string, selector map[string]string, rootNS string, pods []*corev1.Pod) metav1.Condition {
	n := 0
	for _, p := range pods {
		if running(p) && ir.AppliesTo(ns, selector, rootNS, p.Namespace, p.Labels) {
			n++
		}
	}
	c := metav1.Condition{Type: typev1beta1.ConditionWorkloadsSelected, ObservedGeneration: generation,
		Status: metav1.ConditionTrue, Reason: ReasonWorkloadsSelected}
	where := "namespace " + ns
	if ns == rootNS {
		where = "the mesh (root namespace " + ns + ")"
	}
	switch {
	case n == 0 && len(selector) > 0:
		c.Status, c.Reason = metav1.ConditionFalse, ReasonNoWorkloads
		c.Message = fmt.Sprintf("no running pod in %s has the labels %s", where, ir.SelectorKey(selector))
	case n == 0:
		c.Status, c.Reason = metav1.ConditionFalse, ReasonNoWorkloads
		c.Message = "no running pod in " + where
	case n == 1:
		c.Message = "selects 1 pod in " + where
	default:
		c.Message = fmt.Sprintf("selects %d pods in %s", n, where)
	}
	return c
}

// running reports whether a pod is one a workload policy counts: not done, not going.
func running(p *corev1.Pod) bool {
	return p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed && p.DeletionTimestamp == nil
}

// TargetsCondition says what an AuthorizationPolicy's targetRefs bind it to: Gateways
// of its namespace, GatewayClasses (from the root namespace) or Services. gateways
// holds the "namespace/name" of those that exist, classes the names, and services
// maps each Service's "namespace/name" to the waypoint that serves it ("" for none):
// a Service target is enforced by its waypoint, so one without is named as
// unenforced rather than passed off as working.
func TargetsCondition(generation int64, ns, rootNS string, refs []typev1beta1.PolicyTargetReference, gateways, classes map[string]bool, services map[string]string) metav1.Condition {
	c := metav1.Condition{Type: typev1beta1.ConditionWorkloadsSelected, ObservedGeneration: generation,
		Status: metav1.ConditionTrue, Reason: ReasonWorkloadsSelected}
	var bound, missing, unenforced []string
	for _, r := range refs {
		switch r.Kind {
		case "Gateway":
			if gateways[ns+"/"+r.Name] {
				bound = append(bound, "Gateway "+ns+"/"+r.Name)
			} else {
				missing = append(missing, "Gateway "+ns+"/"+r.Name)
			}
		case "GatewayClass":
			switch {
			case ns != rootNS:
				missing = append(missing, fmt.Sprintf("GatewayClass %s (only policies in the root namespace %s may target a class)", r.Name, rootNS))
			case classes[r.Name]:
				bound = append(bound, "every Gateway of class "+r.Name)
			default:
				missing = append(missing, "GatewayClass "+r.Name)
			}
		case "Service":
			switch waypoint, ok := services[ns+"/"+r.Name]; {
			case !ok:
				missing = append(missing, "Service "+ns+"/"+r.Name)
			case waypoint == "":
				unenforced = append(unenforced, "Service "+ns+"/"+r.Name)
			default:
				bound = append(bound, "Service "+ns+"/"+r.Name+" at waypoint "+waypoint)
			}
		default:
			missing = append(missing, r.Kind+" "+r.Name)
		}
	}
	const noWaypoint = "a Service target is enforced by the Service's waypoint; label the Service or its namespace istio.io/use-waypoint=<waypoint>"
	switch {
	case len(missing) > 0:
		c.Status, c.Reason = metav1.ConditionFalse, ReasonTargetNotFound
		c.Message = fmt.Sprintf("targets not found: %v", missing)
	case len(bound) == 0:
		c.Status, c.Reason = metav1.ConditionFalse, ReasonUnsupported
		c.Message = fmt.Sprintf("not enforced: %v use no waypoint (%s)", unenforced, noWaypoint)
	default:
		c.Message = fmt.Sprintf("bound to %v", bound)
		if len(unenforced) > 0 {
			c.Message += fmt.Sprintf("; not enforced: %v use no waypoint (%s)", unenforced, noWaypoint)
		}
	}
	return c
}

// PeerAuthnConflicts finds PeerAuthentications that an older one at the same level (same
// namespace and the same selector, or both without one) shadows, as Istio resolves
// them: the oldest wins. It maps "namespace/name" of each shadowed one to the winner's.
func PeerAuthnConflicts(pas []*securityv1.PeerAuthentication) map[string]string {
	winners := map[string]string{}
	out := map[string]string{}
	for _, pa := range model.OldestFirst(pas) {
		var sel map[string]string
		if pa.Spec.Selector != nil {
			sel = pa.Spec.Selector.MatchLabels
		}
		level := pa.Namespace + "|" + ir.SelectorKey(sel)
		name := pa.Namespace + "/" + pa.Name
		if w, ok := winners[level]; ok {
			out[name] = w
			continue
		}
		winners[level] = name
	}
	return out
}

// ConflictCondition is the WorkloadsSelected condition of a shadowed PeerAuthentication.
func ConflictCondition(generation int64, winner string) metav1.Condition {
	return metav1.Condition{Type: typev1beta1.ConditionWorkloadsSelected, ObservedGeneration: generation,
		Status: metav1.ConditionFalse, Reason: ReasonConflicted,
		Message: "ignored: the older PeerAuthentication " + winner + " sets mTLS for the same workloads"}
}
