package ca

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
)

func TestLoadOrCreateSelfSigned(t *testing.T) {
	c, _ := newClients(t)
	ctx := context.Background()
	ns := newNamespace(t, c)

	a, err := LoadOrCreate(ctx, c, ns, Options{TrustDomain: "example.org"})
	if err != nil {
		t.Fatal(err)
	}
	s := &corev1.Secret{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: SelfSignedSecret}, s); err != nil {
		t.Fatalf("istio-ca-secret not created: %v", err)
	}
	if len(s.Data[CACertKey]) == 0 || len(s.Data[CAKeyKey]) == 0 || s.Type != "istio.io/ca-root" {
		t.Fatalf("istio-ca-secret: type %q, keys %v", s.Type, keys(s.Data))
	}
	if !bytes.Equal(s.Data[CACertKey], a.RootPEM()) {
		t.Error("the authority's root is not the Secret's ca-cert.pem")
	}
	if a.Source() != ns+"/"+SelfSignedSecret || a.TrustDomain() != "example.org" {
		t.Errorf("Source %q, TrustDomain %q", a.Source(), a.TrustDomain())
	}

	// A restart finds the same root: workloads keep trusting each other.
	again, err := LoadOrCreate(ctx, c, ns, Options{TrustDomain: "example.org"})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.RootPEM(), again.RootPEM()) {
		t.Fatal("a second LoadOrCreate made a new root")
	}
	// And the reloaded key signs for the same root.
	id := again.Identity("ns", "sa")
	chain, err := again.Sign(newCSR(t, id), id, 0)
	if err != nil {
		t.Fatal(err)
	}
	verifyChain(t, a, chain, a.opts.Clock())
}

func TestLoadOrCreateRace(t *testing.T) {
	c, _ := newClients(t)
	ns := newNamespace(t, c)
	const replicas = 5
	roots := make([][]byte, replicas)
	errs := make([]error, replicas)
	var wg sync.WaitGroup
	for i := range replicas {
		wg.Go(func() {
			a, err := LoadOrCreate(context.Background(), c, ns, Options{})
			errs[i] = err
			if err == nil {
				roots[i] = a.RootPEM()
			}
		})
	}
	wg.Wait()
	for i := range replicas {
		if errs[i] != nil {
			t.Fatalf("replica %d: %v", i, errs[i])
		}
		if !bytes.Equal(roots[i], roots[0]) {
			t.Fatalf("replicas %d and 0 ended with different roots", i)
		}
	}
}

func TestLoadOrCreatePluggedIn(t *testing.T) {
	c, _ := newClients(t)
	ctx := context.Background()
	ns := newNamespace(t, c)
	s, root := pluggedInSecret(t, ns, 365*24*time.Hour)
	if err := c.Create(ctx, s); err != nil {
		t.Fatal(err)
	}
	a, err := LoadOrCreate(ctx, c, ns, Options{Clock: fixedClock})
	if err != nil {
		t.Fatal(err)
	}
	if !a.Root().Equal(root) || a.Source() != ns+"/"+PluggedInSecret {
		t.Fatalf("not the cacerts root (source %s)", a.Source())
	}
	id := a.Identity("default", "sleep")
	chain, err := a.Sign(newCSR(t, id), id, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(chain) != 3 {
		t.Fatalf("chain has %d elements, want leaf, intermediate, root", len(chain))
	}
	verifyChain(t, a, chain, fixedNow)
	// With cacerts present no self-signed root is made.
	err = c.Get(ctx, types.NamespacedName{Namespace: ns, Name: SelfSignedSecret}, &corev1.Secret{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("istio-ca-secret: %v, want NotFound", err)
	}

	// A broken cacerts is an error, never a silent fallback to another root.
	s.Data[CAKeyKey] = []byte("broken")
	if err := c.Update(ctx, s); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreate(ctx, c, ns, Options{Clock: fixedClock}); err == nil {
		t.Fatal("a broken cacerts was accepted")
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
