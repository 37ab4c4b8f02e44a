package integration

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	typev1beta1 "github.com/meshd-io/meshd/api/type/v1beta1"
	"github.com/meshd-io/meshd/internal/testutil"
	"github.com/meshd-io/meshd/internal/testutil/grpcxds"
)

// These tests prove translated config by traffic: real grpc-go proxyless clients get
// their config from meshd's xDS server and call real grpc-go backends on loopback.
// Features grpc-go does not honour (header rewrites, mirroring, CORS, redirects) are
// covered by the golden tests of internal/xds/grpcgen instead.

func mdOf(m map[string]string) metadata.MD {
	if m == nil {
		return nil
	}
	return metadata.New(m)
}

const reviewsDR = `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
  - {name: v3, labels: {version: v3}}
`

func splitVS(w1, w3 int) string {
	return fmt.Sprintf(`
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - name: jason
    match: [{headers: {end-user: {exact: jason}}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - name: split
    route:
    - {destination: {host: reviews, subset: v1}, weight: %d}
    - {destination: {host: reviews, subset: v3}, weight: %d}
`, w1, w3)
}

// TestTrafficSplitAndHeaderMatch: 80/20 across subsets, header match to v2, then a
// weight change and an endpoint change followed by the same client connection.
func TestTrafficSplitAndHeaderMatch(t *testing.T) {
	f := newMeshFixture(t, "v1", "v2", "v3")
	f.apply(reviewsDR)
	f.apply(splitVS(80, 20))
	c := f.client("client-split")

	waitFor(t, c, map[string]string{"end-user": "jason"}, func(m map[string]int) bool { return m["reviews-v2"] == 20 })
	waitFor(t, c, nil, func(m map[string]int) bool { return m["reviews-v1"] > 0 && m["reviews-v2"] == 0 })

	counts := c.Spread(context.Background(), 1000, nil)
	if got := grpcxds.Fraction(counts, "reviews-v1"); math.Abs(got-0.8) > 0.06 {
		t.Errorf("v1 got %.3f of 1000 calls, want 0.80±0.06 (%v)", got, counts)
	}
	if got := grpcxds.Fraction(counts, "reviews-v3"); math.Abs(got-0.2) > 0.06 {
		t.Errorf("v3 got %.3f of 1000 calls, want 0.20±0.06 (%v)", got, counts)
	}
	if counts["reviews-v2"] != 0 {
		t.Errorf("v2 answered %d calls without the header", counts["reviews-v2"])
	}

	// A weight change reaches the connected client.
	f.apply(splitVS(20, 80))
	waitFor(t, c, nil, func(m map[string]int) bool { return m["reviews-v3"] > m["reviews-v1"] })
	counts = c.Spread(context.Background(), 1000, nil)
	if got := grpcxds.Fraction(counts, "reviews-v3"); math.Abs(got-0.8) > 0.06 {
		t.Errorf("after the change v3 got %.3f, want 0.80±0.06 (%v)", got, counts)
	}

	// An endpoint change (v1 replaced by a new pod) takes the EDS path.
	f.addBackend("reviews-v1-new", "v1")
	f.removeBackend("reviews-v1")
	waitFor(t, c, nil, func(m map[string]int) bool { return m["reviews-v1-new"] > 0 && m["reviews-v1"] == 0 })
	if n := len(env.XDSProxies()); n == 0 {
		t.Error("the tracker sees no connected proxy")
	}

	// The VirtualService says the connected client acknowledged it.
	vsGVK := schema.GroupVersionKind{Group: "networking.istio.io", Version: "v1", Kind: "VirtualService"}
	testutil.Eventually(t, statusTimeout, func() error {
		c := condition(t, vsGVK, f.ns, "reviews", typev1beta1.ConditionProgrammed)
		if c == nil || c.Status != metav1.ConditionTrue || !strings.Contains(c.Message, "every connected proxy that gets this config acknowledged") {
			return fmt.Errorf("Programmed = %+v, want True, acknowledged by the connected proxy", c)
		}
		return nil
	})
}

// TestTrafficConvergence measures the time from an API write to the moment a connected
// client routes by it, over repeated changes, and reports the median and p99.
func TestTrafficConvergence(t *testing.T) {
	f := newMeshFixture(t, "v1", "v3")
	f.apply(reviewsDR)
	f.apply(splitVS(100, 0))
	c := f.client("client-convergence")
	waitFor(t, c, nil, func(m map[string]int) bool { return m["reviews-v1"] == 20 })

	const changes = 20
	var took, applied []time.Duration
	for i := 0; i < changes; i++ {
		want, w1, w3 := "reviews-v3", 0, 100
		if i%2 == 1 {
			want, w1, w3 = "reviews-v1", 100, 0
		}
		start := time.Now()
		f.apply(splitVS(w1, w3))
		applied = append(applied, time.Since(start))
		deadline := start.Add(20 * time.Second)
		for {
			b, _, err := c.Call(context.Background(), nil)
			if err == nil && b == want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("change %d: client still routes to %s (%v)", i, b, err)
			}
		}
		took = append(took, time.Since(start))
	}
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	p50, p99 := took[len(took)/2], took[int(math.Ceil(0.99*float64(len(took))))-1]
	sort.Slice(applied, func(i, j int) bool { return applied[i] < applied[j] })
	t.Logf("API write -> client routes by it, %d changes: p50 %v, p99 %v (the write itself: p50 %v)", changes,
		p50.Round(time.Microsecond), p99.Round(time.Microsecond), applied[len(applied)/2].Round(time.Microsecond))
}

// TestTrafficFaultsRetriesTimeouts: an abort at a percentage with the configured gRPC
// status, a fixed delay, a timeout, and retries that succeed against a backend that
// fails its first attempts.
func TestTrafficFaultsRetriesTimeouts(t *testing.T) {
	f := newMeshFixture(t, "v1")
	f.apply(`
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - name: abort
    match: [{headers: {x-test: {exact: abort}}}]
    fault: {abort: {grpcStatus: RESOURCE_EXHAUSTED, percentage: {value: 50}}}
    route: [{destination: {host: reviews}}]
  - name: delay
    match: [{headers: {x-test: {exact: delay}}}]
    fault: {delay: {fixedDelay: 300ms, percentage: {value: 100}}}
    route: [{destination: {host: reviews}}]
  - name: timeout
    match: [{headers: {x-test: {exact: timeout}}}]
    timeout: 200ms
    route: [{destination: {host: reviews}}]
  - name: retry
    match: [{headers: {x-test: {exact: retry}}}]
    retries: {attempts: 3, retryOn: unavailable}
    route: [{destination: {host: reviews}}]
  - name: no-retry
    match: [{headers: {x-test: {exact: no-retry}}}]
    retries: {attempts: 0}
    route: [{destination: {host: reviews}}]
`)
	c := f.client("client-faults")
	b := f.backends["reviews-v1"]
	ctx := context.Background()
	waitFor(t, c, map[string]string{"x-test": "abort"}, func(m map[string]int) bool { return m["ResourceExhausted"] > 0 })

	counts := c.Spread(ctx, 1000, mdOf(map[string]string{"x-test": "abort"}))
	if got := grpcxds.Fraction(counts, "ResourceExhausted"); math.Abs(got-0.5) > 0.06 {
		t.Errorf("abort: %.3f of calls failed with ResourceExhausted, want 0.50±0.06 (%v)", got, counts)
	}

	start := time.Now()
	if _, _, err := c.Call(ctx, mdOf(map[string]string{"x-test": "delay"})); err != nil {
		t.Errorf("delay: %v", err)
	}
	if took := time.Since(start); took < 300*time.Millisecond {
		t.Errorf("delay: call took %v, want at least the 300ms fixed delay", took)
	}

	b.SetDelay(2 * time.Second)
	start = time.Now()
	_, _, err := c.Call(ctx, mdOf(map[string]string{"x-test": "timeout"}))
	if status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("timeout: got %v, want DeadlineExceeded", err)
	}
	if took := time.Since(start); took > 1500*time.Millisecond {
		t.Errorf("timeout: call took %v, want about 200ms", took)
	}
	b.SetDelay(0)

	// Two failures, then success: three attempts are enough.
	b.SetFailures(2, codes.Unavailable)
	if backend, _, err := c.Call(ctx, mdOf(map[string]string{"x-test": "retry"})); err != nil || backend != "reviews-v1" {
		t.Errorf("retry: got %q, %v; want success after retries", backend, err)
	}
	// attempts: 0 turns retries off: the first failure reaches the caller.
	b.SetFailures(1, codes.Unavailable)
	if _, _, err := c.Call(ctx, mdOf(map[string]string{"x-test": "no-retry"})); status.Code(err) != codes.Unavailable {
		t.Errorf("no-retry: got %v, want Unavailable", err)
	}
}

// TestTrafficConsistentHashAndOutlierDetection: the same x-user key always reaches the
// same backend; a backend that fails every call is ejected.
func TestTrafficConsistentHashAndOutlierDetection(t *testing.T) {
	f := newMeshFixture(t, "a", "b", "c")
	f.apply(`
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  trafficPolicy:
    loadBalancer:
      consistentHash: {httpHeaderName: x-user}
    outlierDetection: {consecutive5xxErrors: 5, interval: 100ms, baseEjectionTime: 30s, maxEjectionPercent: 100}
`)
	c := f.client("client-hash")
	ctx := context.Background()
	// The client may connect before the DestinationRule is in its config: wait until
	// one key sticks to one backend.
	waitFor(t, c, map[string]string{"x-user": "probe"}, func(m map[string]int) bool { return len(m) == 1 && m["Unavailable"] == 0 })

	seen := map[string]bool{}
	for i := 0; i < 20; i++ {
		md := map[string]string{"x-user": fmt.Sprintf("user-%d", i)}
		counts := c.Spread(ctx, 20, mdOf(md))
		if len(counts) != 1 {
			t.Errorf("key user-%d reached %v, want one backend", i, counts)
		}
		for b := range counts {
			seen[b] = true
		}
	}
	if len(seen) < 2 {
		t.Errorf("20 keys all hashed to %v; want them spread over the backends", seen)
	}

	// Find the backend a key maps to, break it, and watch the key move elsewhere.
	md := map[string]string{"x-user": "user-0"}
	owner, _, err := c.Call(ctx, mdOf(md))
	if err != nil {
		t.Fatal(err)
	}
	f.backends[owner].SetFailAll(codes.Internal)
	_, took := waitFor(t, c, md, func(m map[string]int) bool { return m[owner] == 0 && m["Internal"] == 0 })
	t.Logf("outlier detection ejected %s after %v", owner, took.Round(time.Millisecond))
	if n := f.backends[owner].Failures(); n == 0 {
		t.Errorf("%s never failed a call", owner)
	}
}
