package ir

// serviceIndex finds services by hostname and by namespace. Generators look services
// up for every scope they render (route destinations, a Sidecar's imports): one
// index per IR, built by Finish, spares each scope a map of the whole mesh.
type serviceIndex struct {
	byHost      map[string]*Service
	byNamespace map[string][]*Service
}

func (in *IR) indexServices() {
	idx := &serviceIndex{byHost: make(map[string]*Service, len(in.Services)), byNamespace: map[string][]*Service{}}
	for _, s := range in.Services {
		idx.byHost[s.Hostname] = s
		idx.byNamespace[s.Namespace] = append(idx.byNamespace[s.Namespace], s)
	}
	in.index = idx
}

// index is the IR's service index: Finish's, or for an IR built without it (tests
// build some by hand), one built now and not kept, since generators read an IR from
// several goroutines.
func (in *IR) services() *serviceIndex {
	if in.index != nil {
		return in.index
	}
	c := &IR{Services: in.Services}
	c.indexServices()
	return c.index
}

// Service is the service with the hostname, nil if none.
func (in *IR) Service(hostname string) *Service { return in.services().byHost[hostname] }

// ServicesIn are the services of a namespace, by hostname.
func (in *IR) ServicesIn(namespace string) []*Service { return in.services().byNamespace[namespace] }
