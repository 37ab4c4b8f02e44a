package bench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"go.uber.org/zap/zapcore"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/experimental"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// The fleet of raw ADS streams runs in a child process (this test binary again, told
// so by fleetAddrEnv), so that the parent's heap and RSS are meshd's alone and the
// proxies' garbage is not collected by meshd's collector. The parent drives it over
// stdin and stdout, a line per command:
//
//	mark        the child records every proxy's route version; answers "ok"
//	wait SECS [NS]
//	            the child waits until every proxy (of namespace fleet-NS only, when
//	            given) has ACKed a route version other than the marked one; answers
//	            "acked", or "lost I" for the first proxy still waiting after SECS
//	            seconds
//	changed     the child answers how many proxies hold a route version other than
//	            the marked one
const (
	fleetAddrEnv = "MESHD_BENCH_FLEET_ADDR"
	// fleetProtocolEnv chooses the proxies' xDS protocol: "delta" (the default, as
	// Istio's Envoys speak since 1.22) or "sotw" (state of the world).
	fleetProtocolEnv = "MESHD_BENCH_XDS"
	// fleetProfileEnv names a file for the child's CPU profile, from its start to its
	// end: what the proxies' side of the measurement costs.
	fleetProfileEnv = "MESHD_BENCH_FLEET_CPUPROFILE"
	// fleetConnsEnv sets how many connections carry the streams (fleetConns).
	fleetConnsEnv = "MESHD_BENCH_FLEET_CONNS"
)

func TestMain(m *testing.M) {
	if addr := os.Getenv(fleetAddrEnv); addr != "" {
		if err := runFleet(addr, fleetProtocol()); err != nil {
			fmt.Fprintln(os.Stderr, "fleet:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	// meshd's errors only: the benchmark's output is its table.
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapcore.ErrorLevel)))
	os.Exit(m.Run())
}

func fleetProtocol() string {
	if p := os.Getenv(fleetProtocolEnv); p != "" {
		return p
	}
	return "delta"
}

// fleetEDSNames are the endpoint names every proxy subscribes to: every service's.
func fleetEDSNames() []string {
	names := make([]string, 0, fleetServices)
	for i := range fleetServices {
		names = append(names, fmt.Sprintf("outbound|9080||svc-%d.fleet-%d.svc.cluster.local", i, i%fleetNamespaces))
	}
	return names
}

// rawProxy is an ADS stream that subscribes as an Envoy sidecar does (listeners and
// clusters, then route "9080" and every cluster's endpoints) and ACKs every response
// without decoding its resources: thousands of them fit in one process.
type rawProxy struct {
	routeVersion atomic.Value // string: the last route version ACKed
	changed      chan struct{}
}

func newRawProxy() *rawProxy {
	p := &rawProxy{changed: make(chan struct{}, 1)}
	p.routeVersion.Store("")
	return p
}

func (p *rawProxy) routed(version string) {
	p.routeVersion.Store(version)
	select {
	case p.changed <- struct{}{}:
	default:
	}
}

func fleetNode(i int) *corev3.Node {
	ns := fmt.Sprintf("fleet-%d", i%fleetNamespaces)
	return &corev3.Node{Id: fmt.Sprintf("sidecar~10.200.%d.%d~proxy-%d.%s~%s.svc.cluster.local", i/250, i%250, i, ns, ns)}
}

// follows are what a sidecar asks for once it has listeners or clusters.
var follows = map[string]string{resourcev3.ListenerType: resourcev3.RouteType, resourcev3.ClusterType: resourcev3.EndpointType}

// sidecarNames are the names a sidecar asks for by type: its listeners' routes and its
// clusters' endpoints.
func sidecarNames(edsNames []string) map[string][]string {
	return map[string][]string{resourcev3.RouteType: {"9080"}, resourcev3.EndpointType: edsNames}
}

// follow runs a proxy's receiving loop until its stream ends: it ACKs every response,
// records route versions, and asks for routes and endpoints once it has listeners and
// clusters, as a sidecar does.
func follow[Q any, R interface{ GetTypeUrl() string }](p *rawProxy, edsNames []string, send func(Q) error, recv func() (R, error),
	ack func(R, []string) Q, ask func(typ string, names []string) Q, route func(R) (string, bool)) {
	names := sidecarNames(edsNames)
	asked := map[string]bool{}
	for {
		resp, err := recv()
		if err != nil {
			return
		}
		typ := resp.GetTypeUrl()
		if send(ack(resp, names[typ])) != nil {
			return
		}
		if v, ok := route(resp); ok && typ == resourcev3.RouteType {
			p.routed(v)
		}
		if n, ok := follows[typ]; ok && !asked[n] {
			asked[n] = true
			if send(ask(n, names[n])) != nil {
				return
			}
		}
	}
}

// startSotwProxy runs a state-of-the-world stream: every ACK repeats the names.
func startSotwProxy(ctx context.Context, conn *grpc.ClientConn, i int, edsNames []string) (*rawProxy, error) {
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		return nil, err
	}
	for _, r := range []*discoveryv3.DiscoveryRequest{{Node: fleetNode(i), TypeUrl: resourcev3.ClusterType}, {TypeUrl: resourcev3.ListenerType}} {
		if err := stream.Send(r); err != nil {
			return nil, err
		}
	}
	p := newRawProxy()
	go follow(p, edsNames, stream.Send, stream.Recv,
		func(r *discoveryv3.DiscoveryResponse, names []string) *discoveryv3.DiscoveryRequest {
			return &discoveryv3.DiscoveryRequest{TypeUrl: r.GetTypeUrl(), VersionInfo: r.GetVersionInfo(), ResponseNonce: r.GetNonce(), ResourceNames: names}
		},
		func(typ string, names []string) *discoveryv3.DiscoveryRequest {
			return &discoveryv3.DiscoveryRequest{TypeUrl: typ, ResourceNames: names}
		},
		func(r *discoveryv3.DiscoveryResponse) (string, bool) { return r.GetVersionInfo(), true })
	return p, nil
}

// startDeltaProxy runs an incremental stream: wildcard listeners and clusters, then
// route "9080" and every cluster's endpoints by name; an ACK is a nonce.
func startDeltaProxy(ctx context.Context, conn *grpc.ClientConn, i int, edsNames []string) (*rawProxy, error) {
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).DeltaAggregatedResources(ctx)
	if err != nil {
		return nil, err
	}
	for _, r := range []*discoveryv3.DeltaDiscoveryRequest{{Node: fleetNode(i), TypeUrl: resourcev3.ClusterType}, {TypeUrl: resourcev3.ListenerType}} {
		if err := stream.Send(r); err != nil {
			return nil, err
		}
	}
	p := newRawProxy()
	go follow(p, edsNames, stream.Send, stream.Recv,
		func(r *discoveryv3.DeltaDiscoveryResponse, _ []string) *discoveryv3.DeltaDiscoveryRequest {
			return &discoveryv3.DeltaDiscoveryRequest{TypeUrl: r.GetTypeUrl(), ResponseNonce: r.GetNonce()}
		},
		func(typ string, names []string) *discoveryv3.DeltaDiscoveryRequest {
			return &discoveryv3.DeltaDiscoveryRequest{TypeUrl: typ, ResourceNamesSubscribe: names}
		},
		func(r *discoveryv3.DeltaDiscoveryResponse) (string, bool) {
			for _, res := range r.GetResources() {
				if res.GetName() == "9080" {
					return res.GetVersion(), true
				}
			}
			return "", false
		})
	return p, nil
}

// runFleet is the child: it connects the proxies to addr and answers the parent's
// commands until its stdin closes.
// fleetConns is how many gRPC connections carry the proxies' streams: 20, or
// fleetConnsEnv. Envoys each open their own; 2,000 here costs meshd 17 MB more live
// heap (105 against 88 MB, RSS alike) and the proxies' process enough of the two
// shared cores to slow every push two- to threefold.
func fleetConns() int {
	if n, err := strconv.Atoi(os.Getenv(fleetConnsEnv)); err == nil && n > 0 {
		return n
	}
	return 20
}

func runFleet(addr, protocol string) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if path := os.Getenv(fleetProfileEnv); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	start := startDeltaProxy
	if protocol == "sotw" {
		start = startSotwProxy
	}
	var conns []*grpc.ClientConn
	pool := &dirtyPool{}
	for range fleetConns() {
		c, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()), experimental.WithBufferPool(pool),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20), grpc.ForceCodecV2(newEnvelopeCodec())))
		if err != nil {
			return err
		}
		defer c.Close()
		conns = append(conns, c)
	}
	edsNames := fleetEDSNames()
	proxies := make([]*rawProxy, fleetProxies)
	for i := range proxies {
		p, err := start(ctx, conns[i%len(conns)], i, edsNames)
		if err != nil {
			return err
		}
		proxies[i] = p
	}
	marked := make([]string, len(proxies))
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		cmd, arg, _ := strings.Cut(in.Text(), " ")
		switch cmd {
		case "mark":
			for i, p := range proxies {
				marked[i] = p.routeVersion.Load().(string)
				select { // drop stale signals
				case <-p.changed:
				default:
				}
			}
			fmt.Println("ok")
		case "wait":
			secsArg, nsArg, scoped := strings.Cut(arg, " ")
			secs, err := strconv.Atoi(secsArg)
			if err != nil {
				return err
			}
			waited := proxies
			if scoped {
				ns, err := strconv.Atoi(nsArg)
				if err != nil {
					return err
				}
				waited = make([]*rawProxy, len(proxies)) // nil: not waited for
				for i := ns; i < len(proxies); i += fleetNamespaces {
					waited[i] = proxies[i]
				}
			}
			fmt.Println(waitRouted(waited, marked, time.Duration(secs)*time.Second))
		case "changed":
			n := 0
			for i, p := range proxies {
				if p.routeVersion.Load().(string) != marked[i] {
					n++
				}
			}
			fmt.Println(n)
		default:
			return fmt.Errorf("unknown command %q", in.Text())
		}
	}
	return in.Err()
}

// waitRouted waits until every proxy (nil entries aside) holds a route version other
// than the marked one.
func waitRouted(proxies []*rawProxy, marked []string, limit time.Duration) string {
	deadline := time.After(limit)
	for i, p := range proxies {
		for p != nil && p.routeVersion.Load().(string) == marked[i] {
			select {
			case <-p.changed:
			case <-deadline:
				return "lost " + strconv.Itoa(i)
			}
		}
	}
	return "acked"
}

// fleet is the parent's handle on the child process.
type fleet struct {
	cmd *exec.Cmd
	in  *bufio.Writer
	out *bufio.Scanner
}

// startFleet starts the child with its proxies connected to addr.
func startFleet(t *testing.T, addr string) *fleet {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fleetAddrEnv+"="+addr, fleetProtocolEnv+"="+fleetProtocol())
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f := &fleet{cmd: cmd, in: bufio.NewWriter(stdin), out: bufio.NewScanner(stdout)}
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
		}
	})
	return f
}

// do sends one command and returns the child's answer.
func (f *fleet) do(t *testing.T, cmd string) string {
	if _, err := f.in.WriteString(cmd + "\n"); err != nil {
		t.Fatal(err)
	}
	if err := f.in.Flush(); err != nil {
		t.Fatal(err)
	}
	if !f.out.Scan() {
		t.Fatalf("fleet process ended on %q: %v", cmd, f.out.Err())
	}
	return f.out.Text()
}
