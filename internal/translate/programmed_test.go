package translate

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/meshd-io/meshd/internal/ir"
)

func TestProgrammedCondition(t *testing.T) {
	// The object's generation was first published by config update 5.
	proxies := []ProxyView{
		{NodeID: "a", Namespace: "shop", SyncedAt: 7},
		{NodeID: "b", Namespace: "shop", SyncedAt: 4},
		{NodeID: "c", Namespace: "other", SyncedAt: 5},
	}
	cases := []struct {
		name    string
		rep     ObjectReport
		proxies []ProxyView
		status  metav1.ConditionStatus
		reason  string
		message string
	}{
		{"all visible, one behind", ObjectReport{Generation: 3}, proxies, metav1.ConditionUnknown, ReasonPending, "2 of 3 connected proxies acknowledged the config carrying generation 3"},
		{"exported to other only", ObjectReport{Generation: 1, Visibility: ir.Visibility{"other"}}, proxies, metav1.ConditionTrue, ReasonProgrammed, "every connected proxy that gets this config acknowledged generation 1"},
		{"no proxies", ObjectReport{Generation: 1}, nil, metav1.ConditionTrue, ReasonProgrammed, "every connected proxy"},
		{"never synced", ObjectReport{Generation: 1}, []ProxyView{{NodeID: "a", Namespace: "x"}}, metav1.ConditionUnknown, ReasonPending, "0 of 1"},
		{"rejected", ObjectReport{Generation: 2}, []ProxyView{{NodeID: "a", Namespace: "x", Nack: "bad cluster"}}, metav1.ConditionFalse, ReasonRejected, "rejected by a: bad cluster"},
		{"invalid", ObjectReport{Generation: 1, Invalid: field.ErrorList{field.Required(field.NewPath("spec"), "")}}, proxies, metav1.ConditionFalse, "Invalid", "invalid"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.rep.ProgrammedCondition(tc.proxies, 5)
			if c.Status != tc.status || c.Reason != tc.reason || !strings.Contains(c.Message, tc.message) || c.ObservedGeneration != tc.rep.Generation {
				t.Errorf("got %s/%s %q (gen %d), want %s/%s containing %q", c.Status, c.Reason, c.Message, c.ObservedGeneration, tc.status, tc.reason, tc.message)
			}
		})
	}
}
