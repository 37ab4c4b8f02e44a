package translate

import (
	"slices"
	"strings"

	"github.com/meshd-io/meshd/internal/ir"
)

// depIndex finds the objects that touch a host: by host for the hosts objects name
// (routed, shaped or read), and a list of the objects with a wildcard host, which
// are matched against each host asked about. Incremental keeps one over the previous
// snapshot's objects and updates it with what changed, so closing a change over its
// dependencies costs what the change reaches, not a look at every object.
type depIndex struct {
	byHost map[string][]*dependent
	wild   []*dependent
}

func newDepIndex(lists ...[]*dependent) *depIndex {
	x := &depIndex{byHost: map[string][]*dependent{}}
	for _, deps := range lists {
		for _, d := range deps {
			x.add(d)
		}
	}
	return x
}

// hosts calls f with each host d names outright, and reports whether d has a
// wildcard pattern.
func (d *dependent) hosts(f func(string)) (wild bool) {
	for _, h := range d.reads {
		f(h)
	}
	for _, p := range d.patterns {
		if strings.HasPrefix(p, "*") {
			wild = true
		} else {
			f(p)
		}
	}
	return wild
}

func (x *depIndex) add(d *dependent) {
	wild := d.hosts(func(h string) {
		// An object naming a host twice is listed once.
		if l := x.byHost[h]; len(l) == 0 || l[len(l)-1] != d {
			x.byHost[h] = append(l, d)
		}
	})
	if wild {
		x.wild = append(x.wild, d)
	}
}

func (x *depIndex) remove(d *dependent) {
	wild := d.hosts(func(h string) {
		l := slices.DeleteFunc(x.byHost[h], func(o *dependent) bool { return o == d })
		if len(l) == 0 {
			delete(x.byHost, h)
		} else {
			x.byHost[h] = l
		}
	})
	if wild {
		x.wild = slices.DeleteFunc(x.wild, func(o *dependent) bool { return o == d })
	}
}

// update removes the dependencies of objects changed or gone and adds those of their
// new versions.
func (x *depIndex) update(stale, fresh []*dependent) {
	for _, d := range stale {
		x.remove(d)
	}
	for _, d := range fresh {
		x.add(d)
	}
}

// touching calls f with every indexed object that names host, outright or by a
// wildcard (an object may come more than once).
func (x *depIndex) touching(host string, f func(*dependent)) {
	for _, d := range x.byHost[host] {
		f(d)
	}
	for _, d := range x.wild {
		for _, p := range d.patterns {
			if strings.HasPrefix(p, "*") && ir.HostMatches(p, host) {
				f(d)
				break
			}
		}
	}
}
