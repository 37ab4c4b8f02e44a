package validate

import (
	"sort"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// sortErrors orders errors by field path; lists built from map iteration would
// otherwise come out in a different order each time.
func sortErrors(errs field.ErrorList) {
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].Field < errs[j].Field })
}
