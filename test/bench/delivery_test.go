package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/meshd-io/meshd/internal/testutil/adsclient"
)

// routeBytes is the size of the route configuration fleet sidecar i receives on every
// write (each write changes one of its virtual hosts, and xDS sends the whole
// resource), read by an ADS client of its own with the same node.
func routeBytes(t *testing.T, addr string, i int) int {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c, err := adsclient.Dial(ctx, conn, fleetNode(i))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Wait(ctx, func(s adsclient.State) bool { return s.Routes["9080"] != nil }); err != nil {
		t.Fatalf("reading the fleet's route configuration: %v (%s)", err, c.Snapshot().Summary())
	}
	return proto.Size(c.Snapshot().Routes["9080"])
}

// loopbackFloor is how long this machine takes to move n bytes through one loopback
// TCP connection, in 256 kB writes read as they come: no gRPC, no HTTP/2, nothing
// decoded. No push of n bytes to proxies on this machine can be faster. The median of
// three runs.
func loopbackFloor(t *testing.T, n int) time.Duration {
	var runs []time.Duration
	for range 3 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan time.Duration, 1)
		start := time.Now()
		go func() {
			c, err := l.Accept()
			if err != nil {
				done <- 0
				return
			}
			_, _ = io.Copy(io.Discard, c)
			done <- time.Since(start)
		}()
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 256<<10)
		for sent := 0; sent < n; sent += len(buf) {
			if _, err := c.Write(buf[:min(len(buf), n-sent)]); err != nil {
				t.Fatal(err)
			}
		}
		c.Close()
		runs = append(runs, <-done)
		l.Close()
	}
	slices.Sort(runs)
	return runs[1]
}

// deliveryFloor describes the bytes one write makes meshd send (every stream getting
// as many as fleet sidecar i) and the floor of moving them.
func deliveryFloor(t *testing.T, addr string, i int) string {
	per := routeBytes(t, addr, i)
	total := per * fleetProxies
	return fmt.Sprintf("each write sends every stream its %d kB route configuration, %d MB in all, which loopback TCP alone moves in %v on this machine",
		per>>10, total>>20, loopbackFloor(t, total).Round(time.Millisecond))
}
