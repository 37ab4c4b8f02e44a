package xds

import (
	"testing"
	"unsafe"
)

// TestRepeatedNamesShared: a request that repeats the stream's previous names of its
// type gets the previous list back (its own copies are dropped); a new list, or
// another type's, is kept as sent.
func TestRepeatedNamesShared(t *testing.T) {
	s := &nodeStamp{}
	first := []string{"outbound|80||a", "outbound|80||b"}
	if got := s.sameNames("eds", first); unsafe.SliceData(got) != unsafe.SliceData(first) {
		t.Fatal("the first list was not kept as sent")
	}
	again := []string{string([]byte("outbound|80||a")), string([]byte("outbound|80||b"))}
	if got := s.sameNames("eds", again); unsafe.SliceData(got) != unsafe.SliceData(first) {
		t.Error("a repeated list was not replaced by the stream's previous one")
	}
	other := []string{"outbound|80||a"}
	if got := s.sameNames("eds", other); unsafe.SliceData(got) != unsafe.SliceData(other) {
		t.Error("a changed list was replaced")
	}
	if got := s.sameNames("rds", []string{"80"}); len(got) != 1 || got[0] != "80" {
		t.Errorf("another type's list came back as %v", got)
	}
}
