package validate

import (
	"sort"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// sortedKeys gives deterministic iteration, so error lists are stable between runs and
// status is not rewritten for nothing.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// sortErrors orders errors by field path; lists built from map iteration would
// otherwise come out in a different order each time.
func sortErrors(errs field.ErrorList) {
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].Field < errs[j].Field })
}
