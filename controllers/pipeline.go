package controllers

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	meshv1alpha1 "github.com/meshd-io/meshd/api/meshd/v1alpha1"
	networkingv1 "github.com/meshd-io/meshd/api/networking/v1"
	securityv1 "github.com/meshd-io/meshd/api/security/v1"
	typev1beta1 "github.com/meshd-io/meshd/api/type/v1beta1"
	"github.com/meshd-io/meshd/internal/ir"
	"github.com/meshd-io/meshd/internal/model"
	"github.com/meshd-io/meshd/internal/translate"
	"github.com/meshd-io/meshd/internal/xds"
)

// +kubebuilder:rbac:groups="",resources=services;pods;nodes,verbs=get;list;watch
// +kubebuilder:rbac:groups=discovery.k8s.io,resources=endpointslices,verbs=get;list;watch

// The pipeline has two work items: re-translating config and re-rendering endpoints.
// Every watched change enqueues one or both; the work queue collapses repeated events
// into one pass, which is the debounce.
var (
	configKey     = reconcile.Request{NamespacedName: types.NamespacedName{Name: "config"}}
	endpointsKey  = reconcile.Request{NamespacedName: types.NamespacedName{Name: "endpoints"}}
	programmedKey = reconcile.Request{NamespacedName: types.NamespacedName{Name: "programmed"}}
	// workloadsKey writes which pods each workload policy selects: kept off the EDS
	// path, which endpoint changes take many times more often than pods or policies
	// change.
	workloadsKey = reconcile.Request{NamespacedName: types.NamespacedName{Name: "workloads"}}
)

// endpointsDebounce gathers the endpoint and pod changes of a burst into one pass, as
// istiod's debounce does (PILOT_DEBOUNCE_AFTER, 100 ms, EDS included): under churn
// each pass pushes to every stream that watches what changed, so pushing each change
// alone multiplies the fleet's work, while a change waits at most this long.
const endpointsDebounce = 100 * time.Millisecond

// debounced enqueues keys endpointsDebounce after the first event of a burst: the
// work queue keeps an item's earliest time, so later events of the burst join that
// pass.
func debounced(keys ...reconcile.Request) handler.EventHandler {
	add := func(q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
		for _, k := range keys {
			q.AddAfter(k, endpointsDebounce)
		}
	}
	return handler.Funcs{
		CreateFunc: func(_ context.Context, _ event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			add(q)
		},
		UpdateFunc: func(_ context.Context, _ event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			add(q)
		},
		DeleteFunc: func(_ context.Context, _ event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			add(q)
		},
		GenericFunc: func(_ context.Context, _ event.GenericEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			add(q)
		},
	}
}

// programmedDelay gathers the ACKs of one push into one Programmed status write.
const programmedDelay = 500 * time.Millisecond

// Pipeline builds the model snapshot from the informer caches, translates it, pushes the
// result to the xDS server and writes status. It runs on every replica (each serves
// xDS); only the leader writes status, so replicas never fight over it.
type Pipeline struct {
	Client client.Client
	// Cache, when set, is the manager's informer cache, which the passes read objects
	// from without copying them (cachedObjects); without it they list through Client.
	Cache         cache.Cache
	Scheme        *runtime.Scheme
	XDS           *xds.Server
	ClusterDomain string
	// Elected is closed once this replica leads (the manager's Elected); nil means it
	// always does.
	Elected <-chan struct{}

	mu         sync.Mutex
	lastReport *translate.Report
	// since is, per object, its generation and the config update (xds ConfigSeq) that
	// first published it: Programmed counts the proxies synced at or after it.
	since map[ir.ConfigRef]published
	// translator re-translates only what a change reaches. Only the config
	// reconcile uses it, and the work queue never runs one key twice at once.
	translator translate.Incremental
	services   serviceConversions
	// endpointIndex rebuilds only the endpoints of slices that changed, and
	// podConversions converts only the pods that changed. Only the endpoints reconcile
	// uses them, one pass at a time.
	endpointIndex  model.EndpointIndexer
	podConversions model.PodConversions
}

// SetupWithManager watches what the snapshot and the endpoints are made of.
func (p *Pipeline) SetupWithManager(mgr ctrl.Manager) error {
	// Services are config, endpoints, and what AuthorizationPolicies may target.
	both := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{configKey, endpointsKey, workloadsKey}
	})
	config := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{configKey}
	})
	endpoints := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{endpointsKey}
	})
	policies := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{configKey, workloadsKey}
	})
	namespaces := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{configKey, workloadsKey, endpointsKey}
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("pipeline").
		// One worker per work item: a config pass never waits behind an endpoints or a
		// status pass (the queue never runs one item twice at once).
		WithOptions(controller.Options{NeedLeaderElection: ptr.To(false), MaxConcurrentReconciles: 4}).
		Watches(&corev1.Service{}, both).
		// Status writes (meshd's own) change no generation and need no new pass.
		Watches(&networkingv1.VirtualService{}, config, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&networkingv1.DestinationRule{}, config, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		// A Sidecar's workloadSelector decides which pods it applies to, as a policy's does.
		Watches(&networkingv1.Sidecar{}, policies, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		// The Mesh's root namespace and the policies decide what policies select too.
		Watches(&meshv1alpha1.Mesh{}, policies, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		// Annotations count too: istio.io/dry-run turns enforcement off.
		Watches(&securityv1.AuthorizationPolicy{}, policies, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Watches(&securityv1.PeerAuthentication{}, policies, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		// Gateway API objects; namespaces (their labels decide which routes a listener
		// admits) and Secrets (whether a listener's certificate exists), metadata only.
		// Gateways and classes are also what AuthorizationPolicies target.
		Watches(&gatewayv1.GatewayClass{}, policies, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		// Labels too: istio.io/waypoint-for decides what a waypoint serves.
		Watches(&gatewayv1.Gateway{}, policies, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{}))).
		Watches(&gatewayv1.HTTPRoute{}, config, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&gatewayv1.GRPCRoute{}, config, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&gatewayv1.TCPRoute{}, config, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&gatewayv1.TLSRoute{}, config, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&gatewayv1.ReferenceGrant{}, config, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		// Their use-waypoint labels also decide which Services policies bind at a waypoint.
		// Their ambient labels (dataplane-mode, use-waypoint) are workload discovery's too.
		WatchesMetadata(&corev1.Namespace{}, namespaces, builder.WithPredicates(predicate.LabelChangedPredicate{})).
		WatchesMetadata(&corev1.Secret{}, config, builder.WithPredicates(createOrDelete)).
		// EndpointSlices and pods churn: their passes are debounced.
		Watches(&discoveryv1.EndpointSlice{}, debounced(endpointsKey)).
		Watches(&corev1.Pod{}, debounced(endpointsKey, workloadsKey)).
		Watches(&corev1.Node{}, endpoints).
		// One pass at start even in a cluster with no objects: xDS is served only
		// after the first config exists.
		WatchesRawSource(source.Func(func(_ context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
			q.Add(configKey)
			q.Add(endpointsKey)
			q.Add(workloadsKey)
			return nil
		})).
		// A replica that becomes leader writes every status once: the old leader may
		// have stopped before writing the last changes.
		WatchesRawSource(source.Func(func(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
			go func() {
				select {
				case <-ctx.Done():
				case <-p.elected():
					q.Add(configKey)
					q.Add(workloadsKey)
					q.AddAfter(programmedKey, programmedDelay)
				}
			}()
			return nil
		})).
		// Proxies' ACKs and NACKs update the Programmed condition.
		WatchesRawSource(source.Func(func(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
			go func() {
				for {
					select {
					case <-ctx.Done():
						return
					case <-p.XDS.Tracker().Changed():
						q.AddAfter(programmedKey, programmedDelay)
					}
				}
			}()
			return nil
		})).
		Complete(p)
}

// createOrDelete passes only creations and deletions: whether a Secret exists is all
// translation reads of it.
var createOrDelete = predicate.Funcs{
	UpdateFunc: func(event.UpdateEvent) bool { return false },
}

// alwaysElected stands in for Elected when the pipeline has none.
var alwaysElected = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (p *Pipeline) elected() <-chan struct{} {
	if p.Elected == nil {
		return alwaysElected
	}
	return p.Elected
}

// leading reports whether this replica writes status.
func (p *Pipeline) leading() bool {
	select {
	case <-p.elected():
		return true
	default:
		return false
	}
}

// Reconcile runs one pass of the item named by the request.
func (p *Pipeline) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	switch req {
	case configKey:
		return reconcile.Result{}, p.translate(ctx)
	case endpointsKey:
		return reconcile.Result{}, p.endpoints(ctx)
	case programmedKey:
		return reconcile.Result{}, p.programmed(ctx)
	case workloadsKey:
		return reconcile.Result{}, p.workloadStatus(ctx)
	}
	return reconcile.Result{}, nil
}

func (p *Pipeline) clusterDomain() string {
	if p.ClusterDomain == "" {
		return model.DefaultClusterDomain
	}
	return p.ClusterDomain
}

func (p *Pipeline) translate(ctx context.Context) error {
	start := time.Now()
	var vss networkingv1.VirtualServiceList
	var drs networkingv1.DestinationRuleList
	var meshes meshv1alpha1.MeshList
	var aps securityv1.AuthorizationPolicyList
	var pas securityv1.PeerAuthenticationList
	var sidecars networkingv1.SidecarList
	// Translation never mutates its input and status is written by apply from a
	// fresh object, so the cache's objects are read as they are: no deep copy of
	// every object on every change.
	svcs, err := cachedObjects(ctx, p, &corev1.Service{}, &corev1.ServiceList{})
	if err != nil {
		return err
	}
	for _, l := range []client.ObjectList{&vss, &drs, &meshes, &aps, &pas, &sidecars} {
		if err := p.Client.List(ctx, l, client.UnsafeDisableDeepCopy); err != nil {
			return err
		}
	}
	gwObjs, gwIn, err := p.listGatewayAPI(ctx)
	if err != nil {
		return err
	}
	in := model.Inputs{ClusterDomain: p.clusterDomain(), GatewayAPI: gwIn}
	in.GatewayAPI.ProxyServices = make(map[string]*corev1.Service, len(svcs))
	in.Services = p.services.convert(svcs, in.ClusterDomain)
	for _, svc := range svcs {
		in.GatewayAPI.ProxyServices[svc.Namespace+"/"+svc.Name] = svc
	}
	for i := range vss.Items {
		in.VirtualServices = append(in.VirtualServices, &vss.Items[i])
	}
	for i := range drs.Items {
		in.DestinationRules = append(in.DestinationRules, &drs.Items[i])
	}
	for i := range aps.Items {
		in.AuthorizationPolicies = append(in.AuthorizationPolicies, &aps.Items[i])
	}
	for i := range pas.Items {
		in.PeerAuthentications = append(in.PeerAuthentications, &pas.Items[i])
	}
	for i := range sidecars.Items {
		in.Sidecars = append(in.Sidecars, &sidecars.Items[i])
	}
	for i := range meshes.Items {
		if meshes.Items[i].Name == meshv1alpha1.MeshName {
			in.Mesh = &meshes.Items[i].Spec
		}
	}
	out, report := p.translator.Translate(model.NewSnapshot(in))
	for ref, rep := range report.Objects {
		for _, e := range rep.Invalid {
			if e.Type == field.ErrorTypeInternal {
				log.FromContext(ctx).Error(errors.New(e.Detail), "translating an object failed; it is left out and the rest of the mesh is served", "object", ref.String())
			}
		}
	}
	p.XDS.Update(out)
	p.mu.Lock()
	p.lastReport = report
	p.recordPublished(report, p.XDS.ConfigSeq())
	p.mu.Unlock()
	log.FromContext(ctx).V(1).Info("translated and pushed", "services", len(out.Services), "took", time.Since(start))

	if !p.leading() {
		return nil // the leader writes status
	}
	errs := []error{p.writeGatewayAPIStatus(ctx, gwObjs, report.GatewayAPI)}
	for i := range vss.Items {
		vs := &vss.Items[i]
		errs = append(errs, p.writeStatus(ctx, vs, &vs.Status, report, ir.ConfigRef{Kind: "VirtualService", Namespace: vs.Namespace, Name: vs.Name}))
	}
	for i := range drs.Items {
		dr := &drs.Items[i]
		errs = append(errs, p.writeStatus(ctx, dr, &dr.Status, report, ir.ConfigRef{Kind: "DestinationRule", Namespace: dr.Namespace, Name: dr.Name}))
	}
	for i := range sidecars.Items {
		sc := &sidecars.Items[i]
		errs = append(errs, p.writeStatus(ctx, sc, &sc.Status, report, ir.ConfigRef{Kind: "Sidecar", Namespace: sc.Namespace, Name: sc.Name}))
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// writeStatus stores what translation reported for one object, if it changed.
func (p *Pipeline) writeStatus(ctx context.Context, obj client.Object, current *typev1beta1.ConfigStatus, report *translate.Report, ref ir.ConfigRef) error {
	rep := report.Objects[ref]
	if rep == nil {
		return nil
	}
	if err := writeConditions(ctx, p.Client, p.Scheme, obj, current, rep.Conditions(), ownerTranslation); err != nil {
		return fmt.Errorf("status of %s: %w", ref, err)
	}
	return nil
}

func (p *Pipeline) endpoints(ctx context.Context) error {
	// Endpoint discovery reads the cache's objects and never changes them: no copy of
	// every slice and pod of the cluster on each endpoint change.
	svcs, err := cachedObjects(ctx, p, &corev1.Service{}, &corev1.ServiceList{})
	if err != nil {
		return err
	}
	slices, err := cachedObjects(ctx, p, &discoveryv1.EndpointSlice{}, &discoveryv1.EndpointSliceList{})
	if err != nil {
		return err
	}
	pods, err := cachedObjects(ctx, p, &corev1.Pod{}, &corev1.PodList{})
	if err != nil {
		return err
	}
	nodes, err := cachedObjects(ctx, p, &corev1.Node{}, &corev1.NodeList{})
	if err != nil {
		return err
	}
	var namespaces metav1.PartialObjectMetadataList
	namespaces.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("NamespaceList"))
	if err := p.Client.List(ctx, &namespaces, client.UnsafeDisableDeepCopy); err != nil {
		return err
	}
	services := p.services.convert(svcs, p.clusterDomain())
	// Pods and namespaces' labels are ztunnel's workloads: they take this fast path too.
	nsLabels := make(map[string]map[string]string, len(namespaces.Items))
	for _, ns := range namespaces.Items {
		nsLabels[ns.Name] = ns.Labels
	}
	in := model.NewDiscoveryInputs(services, pods, nodes)
	in.NamespaceLabels = nsLabels
	w := p.podConversions.Workloads(pods, nodes, nsLabels)
	p.XDS.UpdateDiscovery(p.endpointIndex.Index(slices, in), &w)
	return nil
}

// workloadStatus writes, on every AuthorizationPolicy, PeerAuthentication and Sidecar,
// whether it selects any running pod (only when that changed).
func (p *Pipeline) workloadStatus(ctx context.Context) error {
	if !p.leading() {
		return nil
	}
	var aps securityv1.AuthorizationPolicyList
	var pas securityv1.PeerAuthenticationList
	var sidecars networkingv1.SidecarList
	var meshes meshv1alpha1.MeshList
	for _, l := range []client.ObjectList{&aps, &pas, &sidecars, &meshes} {
		if err := p.Client.List(ctx, l); err != nil {
			return err
		}
	}
	// Which pods each policy selects is read from the cache's own pods: not a copy of
	// every pod of the cluster on each pod change.
	pods, err := cachedObjects(ctx, p, &corev1.Pod{}, &corev1.PodList{})
	if err != nil {
		return err
	}
	var mesh *meshv1alpha1.MeshSpec
	for i := range meshes.Items {
		if meshes.Items[i].Name == meshv1alpha1.MeshName {
			mesh = &meshes.Items[i].Spec
		}
	}
	root := mesh.WithDefaults().RootNamespace
	write := func(obj client.Object, status *typev1beta1.ConfigStatus, sel *typev1beta1.WorkloadSelector) error {
		var labels map[string]string
		if sel != nil {
			labels = sel.MatchLabels
		}
		c := translate.WorkloadsCondition(obj.GetGeneration(), obj.GetNamespace(), labels, root, pods)
		return writeConditions(ctx, p.Client, p.Scheme, obj, status, []metav1.Condition{c}, ownerWorkloads)
	}
	// What policies may target is listed only when some policy has targetRefs: this
	// pass runs on every pod change.
	var targets policyTargets
	for i := range aps.Items {
		if ap := &aps.Items[i]; ap.Spec.TargetRef != nil || len(ap.Spec.TargetRefs) > 0 {
			var err error
			if targets, err = p.policyTargets(ctx); err != nil {
				return err
			}
			break
		}
	}
	var errs []error
	for i := range aps.Items {
		ap := &aps.Items[i]
		if refs := ap.Spec.TargetRefs; ap.Spec.TargetRef != nil || len(refs) > 0 {
			if ap.Spec.TargetRef != nil {
				refs = append(refs, *ap.Spec.TargetRef)
			}
			c := translate.TargetsCondition(ap.Generation, ap.Namespace, root, refs, targets.gateways, targets.classes, targets.services)
			errs = append(errs, writeConditions(ctx, p.Client, p.Scheme, ap, &ap.Status, []metav1.Condition{c}, ownerWorkloads))
			continue
		}
		errs = append(errs, write(ap, &ap.Status, ap.Spec.Selector))
	}
	conflicts := translate.PeerAuthnConflicts(pointers(pas.Items))
	for i := range pas.Items {
		pa := &pas.Items[i]
		if winner, ok := conflicts[pa.Namespace+"/"+pa.Name]; ok {
			c := translate.ConflictCondition(pa.Generation, winner)
			errs = append(errs, writeConditions(ctx, p.Client, p.Scheme, pa, &pa.Status, []metav1.Condition{c}, ownerWorkloads))
			continue
		}
		errs = append(errs, write(pa, &pa.Status, pa.Spec.Selector))
	}
	conds := translate.SidecarsConditions(pointers(sidecars.Items), root, pods)
	for i := range sidecars.Items {
		sc := &sidecars.Items[i]
		c := conds[sc.Namespace+"/"+sc.Name]
		errs = append(errs, writeConditions(ctx, p.Client, p.Scheme, sc, &sc.Status, []metav1.Condition{c}, ownerWorkloads))
	}
	return errors.Join(errs...)
}

// policyTargets are what AuthorizationPolicies may target: Gateways and classes meshd
// runs, and Services with the waypoint that serves each ("" for none), each by
// "namespace/name" (classes by name).
type policyTargets struct {
	gateways, classes map[string]bool
	services          map[string]string
}

func (p *Pipeline) policyTargets(ctx context.Context) (policyTargets, error) {
	var gws gatewayv1.GatewayList
	var classes gatewayv1.GatewayClassList
	var svcs corev1.ServiceList
	var namespaces metav1.PartialObjectMetadataList
	namespaces.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("NamespaceList"))
	for _, l := range []client.ObjectList{&gws, &classes, &svcs, &namespaces} {
		if err := p.Client.List(ctx, l); err != nil {
			return policyTargets{}, err
		}
	}
	out := policyTargets{gateways: map[string]bool{}, classes: map[string]bool{}, services: map[string]string{}}
	ours := map[string]bool{}
	for _, c := range classes.Items {
		if c.Spec.ControllerName == translate.GatewayController || c.Spec.ControllerName == translate.MeshController {
			ours[c.Name], out.classes[c.Name] = true, true
		}
	}
	for _, g := range gws.Items {
		if ours[string(g.Spec.GatewayClassName)] {
			out.gateways[g.Namespace+"/"+g.Name] = true
		}
	}
	nsLabels := make(map[string]map[string]string, len(namespaces.Items))
	for _, ns := range namespaces.Items {
		nsLabels[ns.Name] = ns.Labels
	}
	gateways := pointers(gws.Items)
	for i := range svcs.Items {
		s := &svcs.Items[i]
		out.services[s.Namespace+"/"+s.Name] = ""
		if w := translate.WaypointOf(model.ServiceFromKube(s, p.clusterDomain()), nsLabels[s.Namespace], gateways); w != nil {
			out.services[s.Namespace+"/"+s.Name] = w.String()
		}
	}
	return out, nil
}

// programmed writes each object's Programmed condition from what connected proxies
// acknowledged. Objects whose latest generation is not translated yet are skipped;
// the pass after their translation covers them.
func (p *Pipeline) programmed(ctx context.Context) error {
	if !p.leading() {
		return nil
	}
	p.mu.Lock()
	report, since := p.lastReport, maps.Clone(p.since)
	p.mu.Unlock()
	if report == nil {
		return nil
	}
	var proxies []translate.ProxyView
	for _, pp := range p.XDS.Progress() {
		proxies = append(proxies, translate.ProxyView{NodeID: pp.NodeID, Namespace: pp.Namespace, SyncedAt: pp.SyncedAt, Nack: pp.Nack})
	}
	var vss networkingv1.VirtualServiceList
	var drs networkingv1.DestinationRuleList
	var sidecars networkingv1.SidecarList
	for _, l := range []client.ObjectList{&vss, &drs, &sidecars} {
		if err := p.Client.List(ctx, l); err != nil {
			return err
		}
	}
	write := func(obj client.Object, current *typev1beta1.ConfigStatus, ref ir.ConfigRef) error {
		rep := report.Objects[ref]
		if rep == nil || rep.Generation != obj.GetGeneration() {
			return nil
		}
		return writeConditions(ctx, p.Client, p.Scheme, obj, current, []metav1.Condition{rep.ProgrammedCondition(proxies, since[ref].seq)}, ownerProgrammed)
	}
	for i := range vss.Items {
		vs := &vss.Items[i]
		if err := write(vs, &vs.Status, ir.ConfigRef{Kind: "VirtualService", Namespace: vs.Namespace, Name: vs.Name}); err != nil {
			return err
		}
	}
	for i := range drs.Items {
		dr := &drs.Items[i]
		if err := write(dr, &dr.Status, ir.ConfigRef{Kind: "DestinationRule", Namespace: dr.Namespace, Name: dr.Name}); err != nil {
			return err
		}
	}
	for i := range sidecars.Items {
		sc := &sidecars.Items[i]
		if err := write(sc, &sc.Status, ir.ConfigRef{Kind: "Sidecar", Namespace: sc.Namespace, Name: sc.Name}); err != nil {
			return err
		}
	}
	return nil
}

// pointers points into a list's items, without copying them.
// published is when an object's generation first reached the xDS caches.
type published struct {
	generation int64
	seq        uint64
}

// recordPublished notes, for each object of report whose generation is new, that
// config update seq published it, and forgets objects gone. Callers hold p.mu. It
// runs on every translation, so it changes only what changed; the programmed pass,
// which walks every object anyway, takes a copy.
func (p *Pipeline) recordPublished(report *translate.Report, seq uint64) {
	if p.since == nil {
		p.since = make(map[ir.ConfigRef]published, len(report.Objects))
	}
	for ref, rep := range report.Objects {
		if was, ok := p.since[ref]; !ok || was.generation != rep.Generation {
			p.since[ref] = published{generation: rep.Generation, seq: seq}
		}
	}
	if len(p.since) > len(report.Objects) {
		for ref := range p.since {
			if report.Objects[ref] == nil {
				delete(p.since, ref)
			}
		}
	}
}

func pointers[T any](items []T) []*T {
	out := make([]*T, len(items))
	for i := range items {
		out[i] = &items[i]
	}
	return out
}
