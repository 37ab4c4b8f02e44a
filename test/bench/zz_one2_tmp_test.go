package bench

import (
	"testing"

	"github.com/go-logr/logr"

	"github.com/meshd-io/meshd/internal/model"
	"github.com/meshd-io/meshd/internal/translate"
	"github.com/meshd-io/meshd/internal/xds"
)

func BenchmarkZZOneVS(b *testing.B) {
	in, idx := mesh(1000, 80)
	srv := xds.NewServer(logr.Discard())
	x := &translate.Incremental{}
	out, _ := x.Translate(model.NewSnapshot(in))
	srv.Update(out)
	srv.UpdateEndpoints(idx)
	srv.WarmScope(xds.ClassSidecar, "ns-0")
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		i++
		changeVirtualService(in, i)
		out, _ := x.Translate(model.NewSnapshot(in))
		srv.Update(out)
	}
}
