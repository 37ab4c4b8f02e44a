package translate

import (
	"fmt"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	typev1beta1 "github.com/meshd-io/meshd/api/type/v1beta1"
	"github.com/meshd-io/meshd/internal/ir"
)

// Reasons meshd gives beyond Accepted/Invalid.
const (
	ReasonConflicted     = "Conflicted"
	ReasonResolvedRefs   = "ResolvedRefs"
	ReasonHostNotFound   = "HostNotFound"
	ReasonSubsetNotFound = "SubsetNotFound"
	ReasonPortNotFound   = "PortNotFound"
	ReasonUnsupported    = "Unsupported"
	ReasonProgrammed     = "Programmed"
	ReasonPending        = "Pending"
	ReasonRejected       = "Rejected"
)

// ProxyView is what the Programmed condition needs to know of one connected proxy.
type ProxyView struct {
	NodeID, Namespace string
	// SyncedAt is the last config update (xds.Server's sequence number) the proxy was
	// seen to hold in full; 0 if never.
	SyncedAt uint64
	Nack     string
}

// ProgrammedCondition says whether the connected proxies that get this object's
// config hold the config carrying this generation, first published by config update
// since: a proxy that held all config of that update or a later one has it, whatever
// changed since (a proxy behind a newer change to another object, or to endpoints,
// does not make this object Pending again). The message names counts only while
// proxies are behind: once all are done it stays put as proxies come and go, so a
// fleet's statuses are not rewritten on every connect.
func (o *ObjectReport) ProgrammedCondition(proxies []ProxyView, since uint64) metav1.Condition {
	c := metav1.Condition{Type: typev1beta1.ConditionProgrammed, ObservedGeneration: o.Generation}
	if len(o.Invalid) > 0 {
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, typev1beta1.ReasonInvalid, "not programmed: the object is invalid"
		return c
	}
	total, acked := 0, 0
	var rejected []string
	for _, p := range proxies {
		if !o.Visibility.VisibleTo(p.Namespace) {
			continue
		}
		total++
		if p.SyncedAt >= since && p.SyncedAt > 0 {
			acked++
		}
		if p.Nack != "" {
			rejected = append(rejected, p.NodeID+": "+p.Nack)
		}
	}
	msg := fmt.Sprintf("%d of %d connected proxies acknowledged the config carrying generation %d", acked, total, o.Generation)
	switch {
	case len(rejected) > 0:
		sort.Strings(rejected)
		c.Status, c.Reason = metav1.ConditionFalse, ReasonRejected
		c.Message = msg + "; rejected by " + strings.Join(rejected, "; ")
	case acked < total:
		c.Status, c.Reason, c.Message = metav1.ConditionUnknown, ReasonPending, msg
	default:
		c.Status, c.Reason = metav1.ConditionTrue, ReasonProgrammed
		c.Message = fmt.Sprintf("every connected proxy that gets this config acknowledged generation %d", o.Generation)
	}
	return c
}

// Report is the status translation derived for each object it read.
type Report struct {
	Objects map[ir.ConfigRef]*ObjectReport
	// GatewayAPI is the status of the Gateway API objects meshd controls.
	GatewayAPI *GatewayAPIStatus
}

// ObjectReport collects one object's conditions.
type ObjectReport struct {
	Generation int64
	// Invalid lists validation errors; a non-empty list keeps the object out of the IR.
	Invalid field.ErrorList
	// Conflicts say which older objects won hosts this one also claims.
	Conflicts []string
	// Unresolved lists references that point at nothing, keyed by reason.
	Unresolved map[string][]string
	// Unsupported lists features meshd does not carry to proxies yet.
	Unsupported []string
	// Visibility is the namespaces whose proxies get this object's config (exportTo).
	Visibility ir.Visibility
}

func newReport() *Report {
	return &Report{Objects: map[ir.ConfigRef]*ObjectReport{}, GatewayAPI: newGatewayAPIStatus()}
}

func (r *Report) object(ref ir.ConfigRef, generation int64) *ObjectReport {
	o := r.Objects[ref]
	if o == nil {
		o = &ObjectReport{Generation: generation, Unresolved: map[string][]string{}}
		r.Objects[ref] = o
	}
	return o
}

func (o *ObjectReport) unresolved(reason, msg string) {
	for _, m := range o.Unresolved[reason] {
		if m == msg {
			return
		}
	}
	o.Unresolved[reason] = append(o.Unresolved[reason], msg)
}

// Conditions renders the report as Accepted and ResolvedRefs conditions (without
// transition times, which the status writer keeps from what is stored).
func (o *ObjectReport) Conditions() []metav1.Condition {
	accepted := metav1.Condition{Type: typev1beta1.ConditionAccepted, ObservedGeneration: o.Generation}
	switch {
	case len(o.Invalid) > 0:
		accepted.Status, accepted.Reason = metav1.ConditionFalse, typev1beta1.ReasonInvalid
		msgs := make([]string, 0, len(o.Invalid))
		for _, e := range o.Invalid {
			msgs = append(msgs, e.Error())
		}
		accepted.Message = fmt.Sprintf("%d error(s): %s", len(o.Invalid), strings.Join(msgs, "; "))
	case len(o.Conflicts) > 0:
		accepted.Status, accepted.Reason = metav1.ConditionFalse, ReasonConflicted
		accepted.Message = strings.Join(o.Conflicts, "; ")
	case len(o.Unsupported) > 0:
		accepted.Status, accepted.Reason = metav1.ConditionTrue, ReasonUnsupported
		accepted.Message = "accepted, but not yet carried to proxies: " + strings.Join(o.Unsupported, "; ")
	default:
		accepted.Status, accepted.Reason, accepted.Message = metav1.ConditionTrue, typev1beta1.ReasonAccepted, "configuration is valid"
	}
	conds := []metav1.Condition{accepted}
	if len(o.Invalid) > 0 {
		return append(conds, metav1.Condition{Type: typev1beta1.ConditionResolvedRefs, ObservedGeneration: o.Generation,
			Status: metav1.ConditionUnknown, Reason: typev1beta1.ReasonInvalid, Message: "references are not checked while the object is invalid"})
	}
	resolved := metav1.Condition{Type: typev1beta1.ConditionResolvedRefs, ObservedGeneration: o.Generation,
		Status: metav1.ConditionTrue, Reason: ReasonResolvedRefs, Message: "all references resolved"}
	if len(o.Unresolved) > 0 {
		reasons := make([]string, 0, len(o.Unresolved))
		for r := range o.Unresolved {
			reasons = append(reasons, r)
		}
		sort.Strings(reasons)
		var msgs []string
		for _, r := range reasons {
			msgs = append(msgs, o.Unresolved[r]...)
		}
		resolved.Status, resolved.Reason, resolved.Message = metav1.ConditionFalse, reasons[0], strings.Join(msgs, "; ")
	}
	conds = append(conds, resolved)
	return conds
}
