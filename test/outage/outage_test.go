// Package outage cuts meshd off from its API server: proxies keep their config and
// new ones still get it from memory, and when the API server is reachable again meshd
// catches up without a restart.
package outage

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/meshd-io/meshd/internal/testutil"
	"github.com/meshd-io/meshd/internal/testutil/adsclient"
	"github.com/meshd-io/meshd/internal/testutil/meshenv"
)

func TestMain(m *testing.M) { testutil.Main(m) }

// link is a TCP relay between meshd and the API server that the test can cut.
type link struct {
	target string
	addr   string

	mu    sync.Mutex
	lis   net.Listener
	conns map[net.Conn]bool
}

func newLink(t *testing.T, target string) *link {
	l := &link{target: target, conns: map[net.Conn]bool{}}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l.addr = lis.Addr().String()
	l.serve(lis)
	t.Cleanup(l.cut)
	return l
}

func (l *link) serve(lis net.Listener) {
	l.mu.Lock()
	l.lis = lis
	l.mu.Unlock()
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", l.target)
			if err != nil {
				c.Close()
				continue
			}
			l.mu.Lock()
			l.conns[c], l.conns[up] = true, true
			l.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
}

// cut closes the listener and every open connection: meshd's requests and watches fail.
func (l *link) cut() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lis != nil {
		l.lis.Close()
		l.lis = nil
	}
	for c := range l.conns {
		c.Close()
	}
	l.conns = map[net.Conn]bool{}
}

// restore listens again on the same address.
func (l *link) restore(t *testing.T) {
	lis, err := net.Listen("tcp", l.addr)
	if err != nil {
		t.Fatal(err)
	}
	l.serve(lis)
}

// TestAPIServerOutage: with meshd cut off from the API server, a connected proxy keeps
// its config and a new proxy gets the same config; objects written meanwhile reach
// proxies once meshd can reach the API server again, without a restart.
func TestAPIServerOutage(t *testing.T) {
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr)))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	env := meshenv.StartBare(t)
	host, err := url.Parse(env.Config.Host)
	if err != nil {
		t.Fatal(err)
	}
	link := newLink(t, host.Host)
	cfg := rest.CopyConfig(env.Config)
	cfg.Host = "https://" + link.addr
	opts := meshenv.TestOptions()
	opts.SecureXDSAddr = ""
	if err := env.StartManager(cfg, opts); err != nil {
		t.Fatal(err)
	}

	nsObj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "outage-"}}
	if err := env.Client.Create(ctx, nsObj); err != nil {
		t.Fatal(err)
	}
	ns := nsObj.Name
	service := func(name string) {
		t.Helper()
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 9080}}}}
		if err := env.Client.Create(ctx, svc); err != nil {
			t.Fatal(err)
		}
	}
	cluster := func(name string) string { return fmt.Sprintf("outbound|9080||%s.%s.svc.cluster.local", name, ns) }
	conn, err := grpc.NewClient(env.XDSAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	proxy := func(pod string) *adsclient.Client {
		t.Helper()
		c, err := adsclient.Dial(ctx, conn, &corev3.Node{Id: fmt.Sprintf("sidecar~10.1.0.5~%s.%s~%s.svc.cluster.local", pod, ns, ns)})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	has := func(names ...string) func(adsclient.State) bool {
		return func(st adsclient.State) bool {
			for _, n := range names {
				if st.Clusters[cluster(n)] == nil {
					return false
				}
			}
			return true
		}
	}

	service("reviews")
	before := proxy("before")
	if err := before.Wait(ctx, has("reviews")); err != nil {
		t.Fatal(err)
	}

	link.cut()
	cutAt := time.Now()
	// Written while meshd cannot see it.
	service("ratings")
	during := proxy("during")
	if err := during.Wait(ctx, has("reviews")); err != nil {
		t.Fatalf("a proxy connecting during the outage got no config: %v", err)
	}
	if has("ratings")(during.Snapshot()) {
		t.Fatal("meshd saw a Service while cut off from the API server")
	}
	if err := before.Wait(ctx, has("reviews")); err != nil {
		t.Fatalf("a connected proxy lost its config during the outage: %v", err)
	}
	time.Sleep(2 * time.Second) // an outage long enough for watches to fail and retry

	link.restore(t)
	restoredAt := time.Now()
	for name, c := range map[string]*adsclient.Client{"connected before": before, "connected during": during} {
		if err := c.Wait(ctx, has("reviews", "ratings")); err != nil {
			t.Fatalf("proxy %s: meshd did not catch up after the outage: %v", name, err)
		}
	}
	t.Logf("outage of %v survived; caught up %v after the API server was reachable again",
		restoredAt.Sub(cutAt).Round(time.Millisecond), time.Since(restoredAt).Round(time.Millisecond))
}
