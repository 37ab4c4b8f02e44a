// Package replicas runs two meshd replicas against one API server, as the deployed
// configuration does: both serve xDS, only the leader writes status, and killing the
// leader hands status writing over to the other.
package replicas

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	networkingv1 "github.com/meshd-io/meshd/api/networking/v1"
	"github.com/meshd-io/meshd/internal/manager"
	"github.com/meshd-io/meshd/internal/testutil"
	"github.com/meshd-io/meshd/internal/testutil/adsclient"
	"github.com/meshd-io/meshd/internal/testutil/meshenv"
)

// replica is one running meshd.
type replica struct {
	mgr *manager.Meshd
	// writes records the status writes the replica sends.
	writes *testutil.RequestLog
	cancel context.CancelFunc
	done   chan error
}

const lease = 3 * time.Second

func startReplica(t *testing.T, cfg *rest.Config) *replica {
	t.Helper()
	r := &replica{done: make(chan error, 1), writes: testutil.NewRequestLog(func(req *http.Request, _ *http.Response) bool {
		return req.Method != http.MethodGet && strings.HasSuffix(req.URL.Path, "/status")
	})}
	cfg = rest.CopyConfig(cfg)
	cfg.Wrap(r.writes.Wrap)
	opts := meshenv.TestOptions()
	opts.SecureXDSAddr = "" // the CA is not what this test is about
	opts.SeveralInProcess = true
	opts.LeaderElection, opts.LeaderElectionNamespace, opts.LeaseDuration = true, "istio-system", lease
	mgr, err := manager.New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	r.mgr = mgr
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- mgr.Start(ctx) }()
	t.Cleanup(r.stop)
	return r
}

func (r *replica) stop() {
	r.cancel()
	select {
	case <-r.done:
	case <-time.After(30 * time.Second):
	}
}

func elected(r *replica) bool {
	select {
	case <-r.mgr.Elected():
		return true
	default:
		return false
	}
}

// TestReplicasOneStatusWriter: two replicas serve the same config to proxies; only
// the leader writes status; when the leader stops, the other takes over status
// writing within the lease.
func TestReplicasOneStatusWriter(t *testing.T) {
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr)))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Neither replica serves the admission webhooks (only one could bind them); the
	// API server stops after the replicas.
	env := meshenv.StartBare(t)

	a := startReplica(t, env.Config)
	select {
	case <-a.mgr.Elected():
	case <-ctx.Done():
		t.Fatal("the first replica never led")
	}
	b := startReplica(t, env.Config)

	nsObj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "replicas-"}}
	if err := env.Client.Create(ctx, nsObj); err != nil {
		t.Fatal(err)
	}
	ns := nsObj.Name
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "reviews", Namespace: ns},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 9080}}}}
	vs := testutil.MustDecode(t, `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: `+ns+`}
spec:
  hosts: [reviews]
  http: [{route: [{destination: {host: reviews}}]}]
`)
	for _, o := range []client.Object{svc, vs} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	acceptedAt := func(gen int64) func() error {
		return func() error {
			got := &networkingv1.VirtualService{}
			if err := env.Client.Get(ctx, client.ObjectKeyFromObject(vs), got); err != nil {
				return err
			}
			c := meta.FindStatusCondition(got.Status.Conditions, "Accepted")
			if c == nil || c.ObservedGeneration != gen || got.Status.ObservedGeneration != gen {
				return fmt.Errorf("Accepted %+v, observedGeneration %d; want generation %d", c, got.Status.ObservedGeneration, gen)
			}
			return nil
		}
	}
	testutil.Eventually(t, 30*time.Second, acceptedAt(1))

	// Both replicas serve the VirtualService's host to proxies, with the same versions:
	// they are hashes of the config, not counters of one process.
	node := &corev3.Node{Id: fmt.Sprintf("sidecar~10.1.0.5~client.%s~%s.svc.cluster.local", ns, ns)}
	cluster := "outbound|9080||reviews." + ns + ".svc.cluster.local"
	synced := func(st adsclient.State) bool {
		return st.Clusters[cluster] != nil && st.Routes["9080"] != nil && st.Endpoints[cluster] != nil
	}
	conns := map[*replica]*grpc.ClientConn{}
	states := map[string]adsclient.State{}
	for name, r := range map[string]*replica{"leader": a, "follower": b} {
		conn, err := grpc.NewClient(r.mgr.XDSAddr.String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conns[r] = conn
		c, err := adsclient.Dial(ctx, conn, node)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Wait(ctx, synced); err != nil {
			t.Fatalf("the %s serves no config for reviews: %v", name, err)
		}
		states[name] = c.Snapshot()
	}
	if !maps.Equal(states["leader"].Versions, states["follower"].Versions) {
		t.Fatalf("the replicas serve one config under different versions: %v and %v", states["leader"].Versions, states["follower"].Versions)
	}
	if elected(b) {
		t.Fatal("both replicas lead")
	}
	if w := b.writes.List(); len(w) > 0 {
		t.Errorf("the follower wrote status %d time(s): %v", len(w), w)
	}

	// The leader stops; the follower leads and writes the next status.
	accepted := func() metav1.Condition {
		got := &networkingv1.VirtualService{}
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(vs), got); err != nil {
			t.Fatal(err)
		}
		return *meta.FindStatusCondition(got.Status.Conditions, "Accepted")
	}
	before := accepted()
	stopped := time.Now()
	a.stop()
	select {
	case <-b.mgr.Elected():
	case <-time.After(3 * lease):
		t.Fatalf("no handover within three leases (%v)", 3*lease)
	}
	t.Logf("handover took %v (lease %v)", time.Since(stopped).Round(time.Millisecond), lease)

	// The leader's proxy reconnects to the other replica with what it holds: nothing
	// is pushed again (routes and endpoints are answered with no resource, listeners
	// and clusters not at all).
	resumed, err := adsclient.Resume(ctx, conns[b], node, states["leader"])
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if st := resumed.Snapshot(); !maps.Equal(st.Versions, states["leader"].Versions) || sum(st.Received) != 0 {
		t.Fatalf("a proxy resuming on the other replica was pushed %v (versions %v, had %v)", st.Received, st.Versions, states["leader"].Versions)
	}
	// The new leader's first pass finds the status as the old one left it: no flapping.
	if after := accepted(); after.Status != before.Status || !after.LastTransitionTime.Equal(&before.LastTransitionTime) {
		t.Errorf("the handover changed Accepted from %+v to %+v", before, after)
	}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(vs), vs); err != nil {
		t.Fatal(err)
	}
	http0 := vs.Object["spec"].(map[string]any)["http"].([]any)[0].(map[string]any)
	http0["timeout"] = "5s"
	if err := env.Client.Update(ctx, vs); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, acceptedAt(vs.GetGeneration()))
	if len(b.writes.List()) == 0 {
		t.Error("the new leader wrote no status")
	}
	// The change reaches the resumed proxy as one route configuration.
	if err := resumed.Wait(ctx, func(st adsclient.State) bool {
		return st.Routes["9080"].GetVirtualHosts()[0].GetRoutes()[0].GetRoute().GetTimeout().AsDuration() == 5*time.Second
	}); err != nil {
		t.Fatal(err)
	}
	if got := resumed.Snapshot().Received; got[resourcev3.RouteType] != 1 || sum(got) != 1 {
		t.Errorf("one changed route pushed %v to the resumed proxy, want one route configuration", got)
	}
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
