package controllers

import (
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/meshd-io/meshd/internal/model"
)

// serviceConversions converts Services for the config and endpoint passes, keeping each
// conversion while its Service's resourceVersion stays. Both passes convert every
// Service of the cluster, and under endpoint churn the endpoint pass runs up to ten
// times a second: in the 1,000-service fleet benchmark that was 210 MB of garbage over
// a minute's run, for Services that had not changed. Conversions are never modified
// (translation never mutates its input), so passes share them.
type serviceConversions struct {
	mu   sync.Mutex
	byID map[types.UID]convertedService
	// pass numbers convert's calls: an entry not listed in the latest is dropped.
	pass uint64
}

type convertedService struct {
	resourceVersion, clusterDomain string
	svc                            *model.Service
	pass                           uint64
}

// convert returns the conversions of svcs, in order, and forgets Services no longer
// listed. A Service without a resourceVersion (not from the API server) is converted
// each time.
func (c *serviceConversions) convert(svcs []*corev1.Service, clusterDomain string) []*model.Service {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byID == nil {
		c.byID = make(map[types.UID]convertedService, len(svcs))
	}
	c.pass++
	out := make([]*model.Service, len(svcs))
	kept := 0
	for i, s := range svcs {
		prev, ok := c.byID[s.UID]
		if ok && s.ResourceVersion != "" && prev.resourceVersion == s.ResourceVersion && prev.clusterDomain == clusterDomain {
			out[i] = prev.svc
		} else {
			out[i] = model.ServiceFromKube(s, clusterDomain)
		}
		if s.UID != "" && s.ResourceVersion != "" {
			c.byID[s.UID] = convertedService{s.ResourceVersion, clusterDomain, out[i], c.pass}
			kept++
		}
	}
	if len(c.byID) > kept {
		for id, e := range c.byID {
			if e.pass != c.pass {
				delete(c.byID, id)
			}
		}
	}
	return out
}
