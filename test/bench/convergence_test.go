package bench

import (
	"context"
	"fmt"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshd-io/meshd/internal/manager"
	"github.com/meshd-io/meshd/internal/testutil"
	"github.com/meshd-io/meshd/internal/testutil/grpcxds"
	"github.com/meshd-io/meshd/internal/testutil/meshenv"
	"github.com/meshd-io/meshd/internal/xds"
)

// Fleet shape of the convergence measurement: services in namespaces, endpoints per
// service, proxies (raw ADS streams).
const (
	fleetNamespaces = 20
	fleetServices   = 1000
	fleetEndpoints  = 10
	fleetProxies    = 2000
	fleetWrites     = 15
	churnPerSecond  = 30
	// fleetGRPCClients are grpc-go proxyless clients of the service whose
	// VirtualService the writes change, besides the raw streams.
	fleetGRPCClients = 50
	// fleetContainerMemory is the memory limit of the container meshd is measured
	// in: meshd gives the Go runtime the rest of it once the binary has its headroom
	// (manager.LimitMemory).
	fleetContainerMemory = 300 << 20
)

// convergence measures, on meshd fed by its controllers on envtest, the time from one
// API write until every one of 2,000 ADS streams has ACKed the route configuration it
// changed, under endpoint churn; and memory once they are synced.
func convergence(t *testing.T) []row {
	if _, err := testutil.AssetsDir(); err != nil {
		return []row{{"convergence and memory", "not measured: " + err.Error(), "", false}}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// meshd as deployed in a container of fleetContainerMemory: the same soft limit
	// the meshd command derives from its cgroup. (The test's own client shares it; it
	// holds little.)
	goLimit, err := manager.LimitMemory(memlimit.Limit(fleetContainerMemory), logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	defer debug.SetMemoryLimit(math.MaxInt64)
	env := meshenv.StartBare(t)
	opts := meshenv.TestOptions()
	opts.SecureXDSAddr = ""
	if err := env.StartManager(env.Config, opts); err != nil {
		t.Fatal(err)
	}

	var objs []client.Object
	for n := range fleetNamespaces {
		objs = append(objs, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("fleet-%d", n)}})
	}
	epSlices := make([]*discoveryv1.EndpointSlice, 0, fleetServices)
	for i := range fleetServices {
		ns, name := fmt.Sprintf("fleet-%d", i%fleetNamespaces), fmt.Sprintf("svc-%d", i)
		objs = append(objs, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 9080}}}})
		slice := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns,
			Labels: map[string]string{discoveryv1.LabelServiceName: name}}, AddressType: discoveryv1.AddressTypeIPv4,
			Ports: []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To(int32(8080))}}}
		for e := range fleetEndpoints {
			slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{Addresses: []string{fmt.Sprintf("10.%d.%d.%d", 1+i/250, i%250, e+1)},
				Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}})
		}
		epSlices = append(epSlices, slice)
	}
	for _, s := range epSlices {
		objs = append(objs, s)
	}
	vs := testutil.MustDecode(t, `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: svc-0, namespace: fleet-0}
spec:
  hosts: [svc-0]
  http: [{route: [{destination: {host: svc-0}}], timeout: 1s}]
`)
	objs = append(objs, vs)
	createAll(t, env.Client, objs)

	// Wait until meshd has translated the whole fleet, so proxies sync once.
	testutil.Eventually(t, 2*time.Minute, func() error {
		if n := env.Manager.XDS.ServiceCount(); n < fleetServices {
			return fmt.Errorf("meshd knows %d of %d services", n, fleetServices)
		}
		return nil
	})
	syncStart := time.Now()
	proxies := startFleet(t, env.XDSAddr)
	testutil.Eventually(t, 5*time.Minute, func() error {
		for _, pp := range env.Manager.XDS.Progress() {
			if !pp.UpToDate {
				return fmt.Errorf("proxy %s not synced", pp.NodeID)
			}
		}
		if n := len(env.Manager.XDS.Progress()); n < fleetProxies {
			return fmt.Errorf("%d of %d proxies connected", n, fleetProxies)
		}
		return nil
	})
	syncTook := time.Since(syncStart)
	mem := meshenv.MeasureMemory()
	heapMB, liveMB, rssMB, peakMB := mem.HeapInuse>>20, mem.Live>>20, mem.RSS>>20, mem.PeakRSS>>20
	returnedMB := meshenv.ReturnedRSS() >> 20
	if path := os.Getenv("MESHD_BENCH_HEAPPROFILE"); path != "" {
		// What holds the heap once every stream is synced, for `go tool pprof`.
		writeHeapProfile(t, path)
	}

	// The grpc-go clients start once memory is measured: they are in the convergence
	// measurement, and run in this process, not meshd's memory.
	grpcNodes := startGRPCClients(t, env.XDSAddr)
	testutil.Eventually(t, 2*time.Minute, func() error { return grpcSynced(env.Manager.XDS.ProgressOf(grpcNodes...), grpcNodes, 1) })

	// Endpoint churn: 30 EndpointSlice changes a second, all through the writes, from a
	// few writers (each waits for its write, ~70 ms on this machine: one alone reached
	// half the rate).
	churnCtx, stopChurn := context.WithCancel(ctx)
	churnStart := time.Now()
	var churned atomic.Int64
	asked := askedChurn()
	changes := make(chan int)
	if asked > 0 {
		go func() {
			tick := time.NewTicker(time.Second / time.Duration(asked))
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-churnCtx.Done():
					return
				case <-tick.C:
				}
				select {
				case changes <- i:
				default: // every writer busy: the rate is not reached, and the row says so
				}
			}
		}()
	}
	for range churnWriters {
		go churn(churnCtx, env.Client, changes, &churned)
	}

	if path := os.Getenv("MESHD_BENCH_CPUPROFILE"); path != "" {
		// Where the CPU goes while writes converge under churn, for `go tool pprof`.
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			t.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	open := writesTo(t, ctx, env, proxies, vs, grpcNodes, 0, -1)
	floor := deliveryFloor(t, env.XDSAddr, 0)

	// The same fleet scoped as Istio advises at scale: a Sidecar per namespace that
	// imports the namespace itself and fleet-0, the namespace every client calls
	// into. A sidecar then carries 100 services (fleet-0's 50 and its own), not 1,000,
	// and each write still reaches every proxy (svc-0 is in fleet-0).
	var sidecars []client.Object
	for n := range fleetNamespaces {
		sidecars = append(sidecars, testutil.MustDecode(t, fmt.Sprintf(`
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: fleet-%d}
spec:
  egress: [{hosts: ["./*", "fleet-0/*"]}]
`, n)))
	}
	createSynced(t, env, sidecars)
	scoped := writesTo(t, ctx, env, proxies, vs, grpcNodes, fleetWrites, -1)
	// fleet-1's sidecars carry fleet-1 and fleet-0: 100 services.
	scopedFloor := deliveryFloor(t, env.XDSAddr, 1)

	// A change to a service of fleet-1 reaches only fleet-1's sidecars now: no other
	// namespace imports it.
	local := testutil.MustDecode(t, `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: svc-1, namespace: fleet-1}
spec:
  hosts: [svc-1]
  http: [{route: [{destination: {host: svc-1}}], timeout: 1s}]
`)
	createSynced(t, env, []client.Object{local})
	localWrites := writesTo(t, ctx, env, proxies, local, nil, 0, 1)
	localPushed := proxies.do(t, "changed")
	stopChurn()
	churnRate := float64(churned.Load()) / time.Since(churnStart).Seconds()
	return []row{
		{fmt.Sprintf("initial sync of %d %s ADS streams (%d services, %d endpoints, %d namespaces)", fleetProxies, fleetProtocol(), fleetServices, fleetServices*fleetEndpoints, fleetNamespaces),
			syncTook.Round(time.Millisecond).String(), "", true},
		// The churn writers wait for each write: what the API server took is what meshd saw.
		open.row(fmt.Sprintf("API write to every stream's ACK (%d raw streams and %d grpc-go proxyless clients), %d writes under endpoint churn (asked %d/s; %d applied over both rows, %.1f/s)",
			fleetProxies, fleetGRPCClients, fleetWrites, asked, churned.Load(), churnRate), floor),
		scoped.row(fmt.Sprintf("the same with a Sidecar per namespace importing itself and fleet-0 (%d writes)", fleetWrites), scopedFloor),
		localWrites.row(fmt.Sprintf("with those Sidecars, a write to fleet-1's svc-1 (%d writes): to the ACK of every stream of fleet-1, the one namespace that imports it", fleetWrites),
			fmt.Sprintf("the last write changed the routes of %s of %d streams", localPushed, fleetProxies)),
		{fmt.Sprintf("meshd's memory with every stream synced (%s xDS over %d connections; the streams run in another process), in a %d MiB container (Go memory limit %d MiB)", fleetProtocol(), fleetConns(), fleetContainerMemory>>20, goLimit>>20),
			fmt.Sprintf("live heap %d MB, heap in use %d MB; RSS %d MB once synced (peak %d MB during the sync), %d MB once freed memory is returned", liveMB, heapMB, rssMB, peakMB, returnedMB),
			"< 300 MB", heapMB < 300 && rssMB < 300},
	}
}

// createSynced creates objects and waits until meshd has published them and every
// proxy holds the result.
func createSynced(t *testing.T, env *meshenv.Env, objs []client.Object) {
	seq := env.Manager.XDS.ConfigSeq()
	createAll(t, env.Client, objs)
	testutil.Eventually(t, 5*time.Minute, func() error {
		if env.Manager.XDS.ConfigSeq() == seq {
			return fmt.Errorf("meshd has not published the new objects")
		}
		for _, pp := range env.Manager.XDS.Progress() {
			if !pp.UpToDate {
				return fmt.Errorf("proxy %s not synced", pp.NodeID)
			}
		}
		return nil
	})
}

// writeTimes are the times of a series of writes, sorted: took is write to every ACK;
// pushed is write to meshd publishing the new config (its ConfigSeq moving), which
// splits took into meshd's translation and the fleet's push; written is the API
// server's write; grpc the grpc-go clients' ACKs alone.
type writeTimes struct {
	took, pushed, written, grpc []time.Duration
}

// row reports the writes as a convergence row, with what the bytes alone cost.
func (w writeTimes) row(metric, floor string) row {
	p50, p99 := w.took[len(w.took)/2], w.took[len(w.took)-1]
	grpc := ""
	if w.grpc != nil {
		grpc = fmt.Sprintf("; the grpc-go clients alone p50 %v, max %v (seen in meshd's progress, every 5 ms)",
			w.grpc[len(w.grpc)/2].Round(time.Millisecond), w.grpc[len(w.grpc)-1].Round(time.Millisecond))
	}
	return row{metric,
		fmt.Sprintf("p50 %v, p99 (max) %v; of which write to meshd's push p50 %v, max %v (the API server's write p50 %v)%s; %s",
			p50.Round(time.Millisecond), p99.Round(time.Millisecond),
			w.pushed[len(w.pushed)/2].Round(time.Millisecond), w.pushed[len(w.pushed)-1].Round(time.Millisecond), w.written[len(w.written)/2].Round(time.Millisecond),
			grpc, floor), "p99 < 100ms", p99 < 100*time.Millisecond}
}

// writesTo changes a VirtualService fleetWrites times (its timeout, from first+2
// seconds on), each time waiting until every raw stream (of namespace fleet-ns only,
// when ns >= 0) and every grpc-go client of grpcNodes has ACKed the new config.
func writesTo(t *testing.T, ctx context.Context, env *meshenv.Env, proxies *fleet, vs *unstructured.Unstructured, grpcNodes []string, first, ns int) writeTimes {
	var took, pushed, writes, grpcTook []time.Duration
	for w := first; w < first+fleetWrites; w++ {
		seq := env.Manager.XDS.ConfigSeq()
		pushedAt, grpcAt := make(chan time.Time, 1), make(chan time.Time, 1)
		go func() {
			for env.Manager.XDS.ConfigSeq() == seq {
				time.Sleep(time.Millisecond)
			}
			pushedAt <- time.Now()
			// The grpc-go clients' ACKs are seen in meshd's progress of them alone
			// (cheap enough to ask every 5 ms): each has held the config of the
			// write's update or a later one.
			after := env.Manager.XDS.ConfigSeq()
			for ctx.Err() == nil && grpcSynced(env.Manager.XDS.ProgressOf(grpcNodes...), grpcNodes, after) != nil {
				time.Sleep(5 * time.Millisecond)
			}
			grpcAt <- time.Now()
		}()
		if got := proxies.do(t, "mark"); got != "ok" {
			t.Fatalf("fleet: %s", got)
		}
		var start time.Time
		var written time.Duration
		// meshd writes status meanwhile: retry on a conflict, timing the write that lands.
		if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			cur := &unstructured.Unstructured{}
			cur.SetGroupVersionKind(vs.GroupVersionKind())
			if err := env.Client.Get(ctx, client.ObjectKeyFromObject(vs), cur); err != nil {
				return err
			}
			route := cur.Object["spec"].(map[string]any)["http"].([]any)[0].(map[string]any)
			route["timeout"] = strconv.Itoa(2+w) + "s"
			start = time.Now()
			err := env.Client.Update(ctx, cur)
			written = time.Since(start)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		// Under churn a slow write takes tens of seconds; one never acknowledged after
		// three minutes is lost, and the proxy's state says whether meshd knows it.
		wait := "wait 180"
		if ns >= 0 {
			wait += " " + strconv.Itoa(ns)
		}
		if got := proxies.do(t, wait); got != "acked" {
			node := fmt.Sprintf("proxy-%s.", strings.TrimPrefix(got, "lost "))
			for _, pp := range env.Manager.XDS.Progress() {
				if strings.Contains(pp.NodeID, node) {
					t.Fatalf("write %d: %s never ACKed the new routes (meshd: %+v)", w, node, pp)
				}
			}
			t.Fatalf("write %d: %s never ACKed the new routes, and meshd does not list it", w, node)
		}
		var grpcDone time.Time
		select {
		case grpcDone = <-grpcAt:
		case <-time.After(3 * time.Minute):
			t.Fatalf("write %d: the grpc-go clients never ACKed the new routes: %v", w, grpcSynced(env.Manager.XDS.ProgressOf(grpcNodes...), grpcNodes, seq+1))
		}
		took = append(took, time.Since(start)) // the raw streams' and the grpc-go clients' ACKs
		grpcTook = append(grpcTook, grpcDone.Sub(start))
		pushed = append(pushed, (<-pushedAt).Sub(start))
		writes = append(writes, written)
		time.Sleep(300 * time.Millisecond)
	}
	slices.Sort(took)
	slices.Sort(pushed)
	slices.Sort(writes)
	slices.Sort(grpcTook)
	if grpcNodes == nil {
		grpcTook = nil
	}
	return writeTimes{took: took, pushed: pushed, written: writes, grpc: grpcTook}
}

// churnWriters write the churn's EndpointSlice changes side by side.
const churnWriters = 4

// askedChurn is the endpoint changes a second asked for: churnPerSecond, or
// MESHD_BENCH_CHURN (0 measures writes without churn).
func askedChurn() int {
	if v, err := strconv.Atoi(os.Getenv("MESHD_BENCH_CHURN")); err == nil && v >= 0 {
		return v
	}
	return churnPerSecond
}

// churn moves an endpoint of the i-th service for each i received, counting the
// changes the API server took.
func churn(ctx context.Context, c client.Client, changes <-chan int, churned *atomic.Int64) {
	for {
		var i int
		select {
		case <-ctx.Done():
			return
		case i = <-changes:
		}
		s := &discoveryv1.EndpointSlice{}
		key := client.ObjectKey{Namespace: fmt.Sprintf("fleet-%d", i%fleetNamespaces), Name: fmt.Sprintf("svc-%d", i%fleetServices)}
		if c.Get(ctx, key, s) == nil {
			s.Endpoints[0].Addresses[0] = fmt.Sprintf("10.250.%d.%d", (i/250)%250, i%250+1)
			if c.Update(ctx, s) == nil {
				churned.Add(1)
			}
		}
	}
}

// createAll creates objects with a few writers at once.
func createAll(t *testing.T, c client.Client, objs []client.Object) {
	var wg sync.WaitGroup
	work := make(chan client.Object)
	var errs sync.Map
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for o := range work {
				if err := c.Create(context.Background(), o); err != nil {
					errs.Store(o.GetName(), err)
				}
			}
		}()
	}
	// Namespaces first: the rest lives in them.
	for _, o := range objs {
		if _, ok := o.(*corev1.Namespace); ok {
			if err := c.Create(context.Background(), o); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, o := range objs {
		if _, ok := o.(*corev1.Namespace); !ok {
			work <- o
		}
	}
	close(work)
	wg.Wait()
	errs.Range(func(k, v any) bool { t.Fatalf("create %v: %v", k, v); return false })
}

// writeHeapProfile writes the live heap to path.
func writeHeapProfile(t *testing.T, path string) {
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	runtime.GC()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		t.Fatal(err)
	}
}

// startGRPCClients starts the grpc-go proxyless clients, each its own node with its
// own ADS stream, spread over the namespaces, all dialling svc-0 (the service whose
// VirtualService the writes change), and returns their node IDs. They are closed
// with the test.
func startGRPCClients(t *testing.T, addr string) []string {
	nodes := make([]string, 0, fleetGRPCClients)
	for i := range fleetGRPCClients {
		ns := fmt.Sprintf("fleet-%d", i%fleetNamespaces)
		node := grpcxds.NodeID(fmt.Sprintf("10.201.%d.%d", i/250, i%250+1), fmt.Sprintf("grpc-client-%d", i), ns)
		c := grpcxds.NewClient(t, grpcxds.XDSConfig{
			ServerAddr: addr,
			NodeID:     node,
			Metadata:   map[string]string{"GENERATOR": "grpc", "NAMESPACE": ns},
			Target:     "xds:///svc-0.fleet-0.svc.cluster.local:9080",
		})
		// The channel resolves (and its xDS client subscribes) without an RPC: the
		// fleet's endpoints are addresses nothing listens on.
		c.Conn().Connect()
		nodes = append(nodes, node)
	}
	return nodes
}

// grpcSynced fails unless every node in nodes is connected and has held the config
// of update seq or a later one.
func grpcSynced(progress []xds.ProxyProgress, nodes []string, seq uint64) error {
	synced := make(map[string]uint64, len(progress))
	for _, pp := range progress {
		synced[pp.NodeID] = pp.SyncedAt
	}
	for _, n := range nodes {
		at, ok := synced[n]
		switch {
		case !ok:
			return fmt.Errorf("grpc-go client %s is not connected", n)
		case at < seq:
			return fmt.Errorf("grpc-go client %s holds the config of update %d, not %d", n, at, seq)
		}
	}
	return nil
}
