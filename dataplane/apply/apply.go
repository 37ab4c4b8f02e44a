// Package apply writes what the dataplane renderers return: server-side apply as one
// field manager, forcing ownership, so that the fields meshd manages are put back after
// anyone edits them, while fields others add (an autoscaler's replicas, a cloud
// provider's annotations) are left alone; and Prune, which deletes what meshd rendered
// before but renders no longer.
package apply

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshd-io/meshd/dataplane/internal/manifest"
)

// Apply server-side applies each object as field manager owner, taking over fields
// other managers changed. Objects need their TypeMeta set, as the renderers set it; an
// object applied with the same content twice is not written again.
func Apply(ctx context.Context, c client.Client, owner string, objs ...client.Object) error {
	for _, obj := range objs {
		u, err := manifest.Unstructured(obj)
		if err != nil {
			return err
		}
		if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(owner), client.ForceOwnership); err != nil {
			return fmt.Errorf("apply %s %s/%s: %w", u.GetKind(), u.GetNamespace(), u.GetName(), err)
		}
	}
	return nil
}

// Selector picks the objects Prune may delete.
type Selector struct {
	// Kinds are the kinds to look at.
	Kinds []schema.GroupVersionKind
	// Namespace to look in; empty for all.
	Namespace string
	// Labels the objects carry.
	Labels map[string]string
	// ControlledBy, when set, limits Prune to objects whose controlling owner reference
	// has this UID.
	ControlledBy types.UID
	// ControllerKind and ControllerName, when set, limit Prune to objects whose
	// controlling owner is of that kind and name (for an owner that is gone, whose UID
	// is no longer known).
	ControllerKind, ControllerName string
}

// Prune deletes the objects sel picks that keep does not name (by kind, namespace and
// name), and any it finds already being deleted. It reads object metadata only, through
// c (with a manager's client, from metadata informers), and deletes with the UID it
// read as a precondition, so an object created again meanwhile survives.
func Prune(ctx context.Context, c client.Client, sel Selector, keep ...client.Object) error {
	kept := map[string]bool{}
	for _, k := range keep {
		gvk, err := c.GroupVersionKindFor(k)
		if err != nil {
			return err
		}
		kept[key(gvk, k)] = true
	}
	var errs []error
	for _, gvk := range sel.Kinds {
		list := &metav1.PartialObjectMetadataList{}
		list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		opts := []client.ListOption{client.MatchingLabels(sel.Labels)}
		if sel.Namespace != "" {
			opts = append(opts, client.InNamespace(sel.Namespace))
		}
		if err := c.List(ctx, list, opts...); err != nil {
			return fmt.Errorf("list %s: %w", gvk.Kind, err)
		}
		for i := range list.Items {
			obj := &list.Items[i]
			obj.SetGroupVersionKind(gvk)
			if kept[key(gvk, obj)] || !controlledBy(obj, sel) || !obj.DeletionTimestamp.IsZero() {
				continue
			}
			// Gone already, or replaced by a new object (the precondition fails), which
			// the next pass judges.
			err := c.Delete(ctx, obj, client.Preconditions{UID: &obj.UID})
			if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
				errs = append(errs, fmt.Errorf("delete %s %s/%s: %w", gvk.Kind, obj.Namespace, obj.Name, err))
			}
		}
	}
	return errors.Join(errs...)
}

func key(gvk schema.GroupVersionKind, o client.Object) string {
	return gvk.GroupKind().String() + "/" + o.GetNamespace() + "/" + o.GetName()
}

func controlledBy(o client.Object, sel Selector) bool {
	ref := metav1.GetControllerOfNoCopy(o)
	if sel.ControlledBy != "" && (ref == nil || ref.UID != sel.ControlledBy) {
		return false
	}
	if sel.ControllerName != "" && (ref == nil || ref.Kind != sel.ControllerKind || ref.Name != sel.ControllerName) {
		return false
	}
	return true
}
