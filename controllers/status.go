// Package controllers holds meshd's thin reconcilers: they watch the Istio kinds, ask the
// pure core (internal/validate today, internal/translate as it lands) what it makes of
// each object, and write that back as status conditions, only when something changed.
package controllers

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	typev1beta1 "github.com/meshd-io/meshd/api/type/v1beta1"
)

// FieldOwner is the server-side-apply field manager meshd writes status as.
const FieldOwner = "meshd"

// statusReconciler writes the Accepted condition of one kind of object from a pure
// validation function. T is a pointer to an API type (e.g. *networkingv1.VirtualService).
type statusReconciler[T client.Object] struct {
	client   client.Client
	scheme   *runtime.Scheme
	newObj   func() T
	status   func(T) *typev1beta1.ConfigStatus
	validate func(T) field.ErrorList
}

func (r *statusReconciler[T]) setup(mgr ctrl.Manager, name string) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named(name).
		// Status writes bump no generation: reconcile on spec changes only.
		For(r.newObj(), builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Complete(r)
}

func (r *statusReconciler[T]) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	obj := r.newObj()
	if err := r.client.Get(ctx, req.NamespacedName, obj); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	accepted := acceptedCondition(obj.GetGeneration(), r.validate(obj))
	if err := writeConditions(ctx, r.client, r.scheme, obj, r.status(obj), []metav1.Condition{accepted}, ownerValidation); err != nil {
		return ctrl.Result{}, err
	}
	log.FromContext(ctx).V(1).Info("status checked", "accepted", accepted.Status, "reason", accepted.Reason)
	return ctrl.Result{}, nil
}

// applyStatus server-side-applies only the status meshd owns, so it never fights other
// writers over spec or metadata.
func applyStatus(ctx context.Context, c client.Client, scheme *runtime.Scheme, obj client.Object, st *typev1beta1.ConfigStatus, owner string) error {
	gvk, err := apiutil.GVKForObject(obj, scheme)
	if err != nil {
		return err
	}
	raw, err := runtime.DefaultUnstructuredConverter.ToUnstructured(st)
	if err != nil {
		return err
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	u.SetName(obj.GetName())
	u.SetNamespace(obj.GetNamespace())
	u.Object["status"] = raw
	return c.Status().Apply(ctx, client.ApplyConfigurationFromUnstructured(u),
		client.FieldOwner(owner), client.ForceOwnership)
}

// acceptedCondition turns a validation result into the Accepted condition; the message
// lists every problem with its field path so the user can act on it.
func acceptedCondition(generation int64, errs field.ErrorList) metav1.Condition {
	c := metav1.Condition{
		Type:               typev1beta1.ConditionAccepted,
		ObservedGeneration: generation,
	}
	if len(errs) == 0 {
		c.Status = metav1.ConditionTrue
		c.Reason = typev1beta1.ReasonAccepted
		c.Message = "configuration is valid"
		return c
	}
	c.Status = metav1.ConditionFalse
	c.Reason = typev1beta1.ReasonInvalid
	msgs := make([]string, 0, len(errs))
	for _, e := range errs {
		msgs = append(msgs, e.Error())
	}
	c.Message = truncate(fmt.Sprintf("%d error(s): %s", len(errs), strings.Join(msgs, "; ")), 32768)
	return c
}

// statusNeedsUpdate is true when the observed generation or a condition (ignoring its
// transition time) differs from what is stored.
func statusNeedsUpdate(current *typev1beta1.ConfigStatus, generation int64, want ...metav1.Condition) bool {
	if current.ObservedGeneration != generation {
		return true
	}
	for _, w := range want {
		have := meta.FindStatusCondition(current.Conditions, w.Type)
		if have == nil {
			return true
		}
		w.LastTransitionTime = have.LastTransitionTime
		if !equality.Semantic.DeepEqual(*have, w) {
			return true
		}
	}
	return false
}

// Field managers of status. Each pass applies only the conditions it owns, so server-side
// apply never lets one pass undo another's condition with a stale copy.
const (
	ownerValidation  = FieldOwner
	ownerTranslation = FieldOwner + "-translation"
	ownerWorkloads   = FieldOwner + "-workloads"
	ownerProgrammed  = FieldOwner + "-programmed"
)

// writeConditions applies conditions (keeping the transition time of those whose status
// did not change) and observedGeneration as owner, if anything differs from what is
// stored.
func writeConditions(ctx context.Context, c client.Client, scheme *runtime.Scheme, obj client.Object,
	current *typev1beta1.ConfigStatus, conds []metav1.Condition, owner string) error {
	if !statusNeedsUpdate(current, obj.GetGeneration(), conds...) {
		return nil
	}
	now := metav1.Now()
	apply := &typev1beta1.ConfigStatus{ObservedGeneration: obj.GetGeneration()}
	for _, cond := range conds {
		cond.LastTransitionTime = now
		if have := meta.FindStatusCondition(current.Conditions, cond.Type); have != nil && have.Status == cond.Status {
			cond.LastTransitionTime = have.LastTransitionTime
		}
		apply.Conditions = append(apply.Conditions, cond)
	}
	err := applyStatus(ctx, c, scheme, obj, apply, owner)
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}
