package controllers

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/meshd-io/meshd/internal/model"
	"github.com/meshd-io/meshd/internal/translate"
)

// +kubebuilder:rbac:groups=gateway.networking.k8s.io,resources=gatewayclasses;gateways;httproutes;grpcroutes;tcproutes;tlsroutes;referencegrants,verbs=get;list;watch
// +kubebuilder:rbac:groups=gateway.networking.k8s.io,resources=gatewayclasses/status;gateways/status;httproutes/status;grpcroutes/status;tcproutes/status;tlsroutes/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=list;watch

// gatewayAPIObjects are the Gateway API objects of one pass, as listed.
type gatewayAPIObjects struct {
	classes    gatewayv1.GatewayClassList
	gateways   gatewayv1.GatewayList
	http       gatewayv1.HTTPRouteList
	grpc       gatewayv1.GRPCRouteList
	tcp        gatewayv1.TCPRouteList
	tls        gatewayv1.TLSRouteList
	grants     gatewayv1.ReferenceGrantList
	namespaces metav1.PartialObjectMetadataList
	secrets    metav1.PartialObjectMetadataList
}

// listGatewayAPI lists the Gateway API objects and what they refer to. Namespaces and
// Secrets are read as metadata only: listeners need namespace labels and whether a
// certificate Secret exists, never a Secret's contents.
func (p *Pipeline) listGatewayAPI(ctx context.Context) (*gatewayAPIObjects, model.GatewayAPI, error) {
	o := &gatewayAPIObjects{}
	o.namespaces.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("NamespaceList"))
	o.secrets.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("SecretList"))
	for _, l := range []client.ObjectList{&o.classes, &o.gateways, &o.http, &o.grpc, &o.tcp, &o.tls, &o.grants, &o.namespaces, &o.secrets} {
		if err := p.Client.List(ctx, l); err != nil {
			return nil, model.GatewayAPI{}, err
		}
	}
	in := model.GatewayAPI{
		Classes: pointers(o.classes.Items), Gateways: pointers(o.gateways.Items),
		HTTPRoutes: pointers(o.http.Items), GRPCRoutes: pointers(o.grpc.Items),
		TCPRoutes: pointers(o.tcp.Items), TLSRoutes: pointers(o.tls.Items),
		ReferenceGrants: pointers(o.grants.Items),
		NamespaceLabels: make(map[string]map[string]string, len(o.namespaces.Items)),
		Secrets:         make(map[string]bool, len(o.secrets.Items)),
	}
	for _, ns := range o.namespaces.Items {
		in.NamespaceLabels[ns.Name] = ns.Labels
	}
	for _, s := range o.secrets.Items {
		in.Secrets[s.Namespace+"/"+s.Name] = true
	}
	return o, in, nil
}

// writeGatewayAPIStatus stores the Gateway API status translation derived, where it
// differs from what is stored. Classes and Gateways of meshd's classes are meshd's
// whole status; on routes meshd owns only its own entries of status.parents (that list
// is atomic, so it is read, edited and written back under optimistic concurrency).
func (p *Pipeline) writeGatewayAPIStatus(ctx context.Context, o *gatewayAPIObjects, st *translate.GatewayAPIStatus) error {
	var errs []error
	for i := range o.classes.Items {
		c := &o.classes.Items[i]
		want, ok := st.Classes[c.Name]
		if !ok {
			continue
		}
		errs = append(errs, updateStatus(ctx, p.Client, c, func(c *gatewayv1.GatewayClass) bool {
			want.Conditions = keepTransitionTimes(c.Status.Conditions, want.Conditions)
			if equality.Semantic.DeepEqual(c.Status, want) {
				return false
			}
			c.Status = want
			return true
		}))
	}
	for i := range o.gateways.Items {
		g := &o.gateways.Items[i]
		want, ok := st.Gateways[g.Namespace+"/"+g.Name]
		if !ok {
			continue
		}
		errs = append(errs, updateStatus(ctx, p.Client, g, func(g *gatewayv1.Gateway) bool {
			want.Conditions = keepTransitionTimes(g.Status.Conditions, want.Conditions)
			for j := range want.Listeners {
				var have []metav1.Condition
				for _, l := range g.Status.Listeners {
					if l.Name == want.Listeners[j].Name {
						have = l.Conditions
					}
				}
				want.Listeners[j].Conditions = keepTransitionTimes(have, want.Listeners[j].Conditions)
			}
			if equality.Semantic.DeepEqual(g.Status, want) {
				return false
			}
			g.Status = want
			return true
		}))
	}
	parents := func(kind string, obj client.Object, status *gatewayv1.RouteStatus) bool {
		return mergeParents(status, st.Routes[translate.RouteKey{Kind: kind, Namespace: obj.GetNamespace(), Name: obj.GetName()}])
	}
	for i := range o.http.Items {
		errs = append(errs, updateStatus(ctx, p.Client, &o.http.Items[i], func(r *gatewayv1.HTTPRoute) bool {
			return parents("HTTPRoute", r, &r.Status.RouteStatus)
		}))
	}
	for i := range o.grpc.Items {
		errs = append(errs, updateStatus(ctx, p.Client, &o.grpc.Items[i], func(r *gatewayv1.GRPCRoute) bool {
			return parents("GRPCRoute", r, &r.Status.RouteStatus)
		}))
	}
	for i := range o.tcp.Items {
		errs = append(errs, updateStatus(ctx, p.Client, &o.tcp.Items[i], func(r *gatewayv1.TCPRoute) bool {
			return parents("TCPRoute", r, &r.Status.RouteStatus)
		}))
	}
	for i := range o.tls.Items {
		errs = append(errs, updateStatus(ctx, p.Client, &o.tls.Items[i], func(r *gatewayv1.TLSRoute) bool {
			return parents("TLSRoute", r, &r.Status.RouteStatus)
		}))
	}
	return errors.Join(errs...)
}

// mergeParents replaces meshd's entries of status.parents with want, keeping other
// controllers' entries, and reports whether anything changed.
func mergeParents(status *gatewayv1.RouteStatus, want []gatewayv1.RouteParentStatus) bool {
	var others, ours []gatewayv1.RouteParentStatus
	for _, ps := range status.Parents {
		if ps.ControllerName == translate.GatewayController || ps.ControllerName == translate.MeshController {
			ours = append(ours, ps)
		} else {
			others = append(others, ps)
		}
	}
	next := make([]gatewayv1.RouteParentStatus, 0, len(want))
	for _, w := range want {
		var have []metav1.Condition
		for _, h := range ours {
			if h.ControllerName == w.ControllerName && equality.Semantic.DeepEqual(h.ParentRef, w.ParentRef) {
				have = h.Conditions
			}
		}
		w.Conditions = keepTransitionTimes(have, w.Conditions)
		next = append(next, w)
	}
	if equality.Semantic.DeepEqual(ours, next) || (len(ours) == 0 && len(next) == 0) {
		return false
	}
	status.Parents = append(others, next...)
	if status.Parents == nil {
		status.Parents = []gatewayv1.RouteParentStatus{} // required by the schema
	}
	return true
}

// keepTransitionTimes stamps conditions: the stored transition time when a condition's
// status did not change, now otherwise.
func keepTransitionTimes(have, want []metav1.Condition) []metav1.Condition {
	now := metav1.Now()
	out := make([]metav1.Condition, len(want))
	for i, w := range want {
		w.LastTransitionTime = now
		if h := meta.FindStatusCondition(have, w.Type); h != nil && h.Status == w.Status {
			w.LastTransitionTime = h.LastTransitionTime
		}
		out[i] = w
	}
	return out
}

// updateStatus applies edit to obj's status and writes it if edit reports a change,
// re-reading and retrying on a conflict with another writer.
func updateStatus[T client.Object](ctx context.Context, c client.Client, obj T, edit func(T) bool) error {
	first := true
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if !first {
			if err := c.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
				return err
			}
		}
		first = false
		if !edit(obj) {
			return nil
		}
		return c.Status().Update(ctx, obj)
	})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("status of %T %s/%s: %w", obj, obj.GetNamespace(), obj.GetName(), err)
	}
	return nil
}
