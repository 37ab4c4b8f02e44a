package load

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/meshd-io/meshd/internal/testutil"
)

// Churn is what a busy cluster does while proxies are connected: pods come and go
// behind Services (EndpointSlice updates), people change routes (VirtualService
// updates), and whole services are deployed and torn down. Writes are counted, not
// timed, so every run ends in the same state, and paced at the rates below.
const (
	endpointWrites    = 600
	endpointsPerSec   = 30
	endpointWriters   = 3
	endpointHotSet    = 300 // services whose endpoints change, each twice; a multiple of endpointWriters
	vsWrites          = 60
	vsPerSec          = 3
	transientServices = 20 // one deployed a second, each torn down three seconds later
	transientLifetime = 3
)

// churn writes to the fleet and records what it wrote in it.
type churn struct {
	c     client.Client
	fleet *fleet
	// eps are the fleet's EndpointSlices as last stored: the test is their only writer,
	// so an update needs no read first.
	eps    []*discoveryv1.EndpointSlice
	writes atomic.Int64
}

// run churns until every write is done; writers fail fast.
func (ch *churn) run(ctx context.Context, t *testing.T) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, endpointWriters+2)
	spawn := func(f func(context.Context) error) {
		wg.Go(func() {
			if err := f(ctx); err != nil {
				errs <- err
				cancel()
			}
		})
	}
	for w := range endpointWriters {
		spawn(func(ctx context.Context) error { return ch.endpoints(ctx, w) })
	}
	spawn(ch.virtualServices)
	spawn(func(ctx context.Context) error { return ch.transient(ctx, t) })
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(all...)
}

// paced calls f n times at perSec calls a second.
func paced(ctx context.Context, n int, perSec float64, f func(k int) error) error {
	tick := time.NewTicker(time.Duration(float64(time.Second) / perSec))
	defer tick.Stop()
	for k := range n {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		if err := f(k); err != nil {
			return err
		}
	}
	return nil
}

// endpoints is writer w of the EndpointSlice churn: write r moves one endpoint of a
// service of the hot set to a new address. Writers own disjoint services (writer w's
// r%hotSet are all w modulo writers), so no two write one slice.
func (ch *churn) endpoints(ctx context.Context, w int) error {
	return paced(ctx, endpointWrites/endpointWriters, endpointsPerSec/endpointWriters, func(k int) error {
		r := k*endpointWriters + w
		i := (r % endpointHotSet) * 7919 % services
		e := r % endpointsPerService
		addr := fmt.Sprintf("10.%d.%d.%d", 128+r/62500, r/250%250, r%250+1)
		s := ch.eps[i].DeepCopy()
		s.Endpoints[e].Addresses = []string{addr}
		if err := ch.c.Update(ctx, s); err != nil {
			return fmt.Errorf("endpoint churn, %s: %w", fqdn(i), err)
		}
		ch.eps[i] = s
		ch.fleet.addresses[i][e] = addr
		ch.writes.Add(1)
		return nil
	})
}

// virtualServices moves one VirtualService a write to a new variant of its routes; the
// services written cycle through every route shape. A merge patch of the spec, since
// meshd writes the status meanwhile.
func (ch *churn) virtualServices(ctx context.Context) error {
	return paced(ctx, vsWrites, vsPerSec, func(k int) error {
		i, v := k*104729%services, k+1
		vs, err := testutil.Decode([]byte(virtualService(i, v)))
		if err != nil {
			return err
		}
		patch, err := json.Marshal(map[string]any{"spec": vs[0].Object["spec"]})
		if err != nil {
			return err
		}
		if err := ch.c.Patch(ctx, vs[0], client.RawPatch(types.MergePatchType, patch)); err != nil {
			return fmt.Errorf("VirtualService churn, %s: %w", fqdn(i), err)
		}
		ch.fleet.variant[i] = v
		ch.writes.Add(1)
		return nil
	})
}

// transient deploys a service (Service, EndpointSlice, VirtualService) a second and
// tears each down a few seconds later; at the end none is left, so what proxies hold
// must again be the fleet alone.
func (ch *churn) transient(ctx context.Context, t *testing.T) error {
	deployed := map[int][]client.Object{}
	teardown := func(k int) error {
		for _, o := range deployed[k] {
			if err := ch.c.Delete(ctx, o); err != nil {
				return fmt.Errorf("tear down transient service %d: %w", k, err)
			}
			ch.writes.Add(1)
		}
		delete(deployed, k)
		return nil
	}
	err := paced(ctx, transientServices, 1, func(k int) error {
		n, ns := fmt.Sprintf("transient-%d", k), namespace(k)
		objs := []client.Object{service(n, ns, true), endpointSlice(n, ns, []string{fmt.Sprintf("10.99.%d.1", k)}),
			testutil.MustDecode(t, fmt.Sprintf(`
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: %[1]s, namespace: %[2]s}
spec:
  hosts: [%[1]s]
  http: [{route: [{destination: {host: %[1]s}}], timeout: 3s}]
`, n, ns))}
		for _, o := range objs {
			if err := ch.c.Create(ctx, o); err != nil {
				return fmt.Errorf("deploy transient service %d: %w", k, err)
			}
			ch.writes.Add(1)
		}
		deployed[k] = objs
		return teardown(k - transientLifetime)
	})
	for k := range deployed {
		err = errors.Join(err, teardown(k))
	}
	return err
}
