package controllers

import (
	"context"

	"k8s.io/apimachinery/pkg/api/meta"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// storeLister is what client-go's shared informers, which controller-runtime's cache
// hands out behind its Informer interface, also have: the store of the objects they
// keep.
type storeLister interface{ GetStore() toolscache.Store }

// cachedObjects are the objects of obj's kind in the informer cache: the cache's own,
// not copies. Listed through the client, every object is copied into the list's items
// even without a deep copy, on every pass: the endpoints pass lists every Service,
// EndpointSlice, pod and node of the cluster each time endpoints churn (100 MB a pass
// at 100,000 pods), and those copies were a sixth of meshd's garbage while 2,000
// proxies converged under churn. Callers read the objects and never change them.
// Without a cache of client-go's make (p.Cache nil), they are listed into list.
func cachedObjects[T client.Object](ctx context.Context, p *Pipeline, obj T, list client.ObjectList) ([]T, error) {
	if p.Cache != nil {
		// An informer not yet synced (or one GetInformer made just now) is left to
		// List, which says why it cannot answer rather than answering with nothing.
		if inf, err := p.Cache.GetInformer(ctx, obj); err == nil && inf.HasSynced() {
			if s, ok := inf.(storeLister); ok {
				return only[T](s.GetStore().List()), nil
			}
		}
	}
	if err := p.Client.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	items, err := meta.ExtractList(list) // pointers to the list's items
	if err != nil {
		return nil, err
	}
	return only[T](items), nil
}

// only is the items of type T.
func only[T, E any](items []E) []T {
	out := make([]T, 0, len(items))
	for _, it := range items {
		if o, ok := any(it).(T); ok {
			out = append(out, o)
		}
	}
	return out
}
