package validate

import (
	"maps"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	typev1beta1 "github.com/meshd-io/meshd/api/type/v1beta1"
)

// workloadSelector checks label keys and values: Kubernetes label syntax and, as Istio
// says, no wildcards (a selector matches labels exactly).
func workloadSelector(p *field.Path, s *typev1beta1.WorkloadSelector) field.ErrorList {
	if s == nil {
		return nil
	}
	return labelSelector(p.Child("matchLabels"), s.MatchLabels)
}

// labelSelector checks the labels of a selector map at path mp.
func labelSelector(mp *field.Path, labels map[string]string) field.ErrorList {
	var errs field.ErrorList
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		v := labels[k]
		if strings.Contains(k, "*") {
			errs = append(errs, field.Invalid(mp, k, "wildcard not allowed in label key match"))
		} else if msgs := validation.IsQualifiedName(k); len(msgs) > 0 {
			errs = append(errs, field.Invalid(mp, k, strings.Join(msgs, "; ")))
		}
		if strings.Contains(v, "*") {
			errs = append(errs, field.Invalid(mp.Key(k), v, "wildcard not allowed in label value match"))
		} else if msgs := validation.IsValidLabelValue(v); len(msgs) > 0 {
			errs = append(errs, field.Invalid(mp.Key(k), v, strings.Join(msgs, "; ")))
		}
	}
	return errs
}
