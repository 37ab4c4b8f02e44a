#!/usr/bin/env bash
# Builds envtest's control-plane binaries (kube-apiserver, etcd) from the Go module
# proxy, because setup-envtest's prebuilt downloads are not reachable here. The result is
# cached outside the clone, keyed by version, so a fresh clone (CI's) reuses it; the
# caller links it into bin/.
#
# kubectl of the same version is built too (envtest ships one; the tests and `make dev`
# use it rather than whatever kubectl the machine has).
#
# usage: hack/envtest-assets.sh <kube-version e.g. v1.37.2> <etcd-version e.g. v3.6.16>
# prints the folder holding both binaries.
set -euo pipefail

KUBE_VERSION=${1:?kube version}
ETCD_VERSION=${2:?etcd version}
CACHE_ROOT=${MESHD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/meshd}
DEST="$CACHE_ROOT/envtest/kube-${KUBE_VERSION}-etcd-${ETCD_VERSION}"

if [[ -x "$DEST/kube-apiserver" && -x "$DEST/etcd" && -x "$DEST/kubectl" ]]; then
  echo "$DEST"
  exit 0
fi
mkdir -p "$DEST"
export GOFLAGS=-mod=mod GOWORK=off
log() { echo "envtest-assets: $*" >&2; }

if [[ ! -x "$DEST/kube-apiserver" || ! -x "$DEST/kubectl" ]]; then
  log "building kube-apiserver and kubectl $KUBE_VERSION (several minutes, once per version)"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  dir=$(go mod download -json "k8s.io/kubernetes@${KUBE_VERSION}" | sed -n 's/^\s*"Dir": "\(.*\)",\?$/\1/p')
  staging="v0${KUBE_VERSION#v1}" # k8s.io/kubernetes v1.37.2 -> staging modules v0.37.2
  (
    cd "$work"
    go mod init envtest-kube-apiserver >/dev/null 2>&1
    # The kubernetes module points its staging repos at ./staging; pin them to the
    # published versions instead so the module resolves outside its own tree.
    grep -oE '^\s*k8s.io/[a-z0-9-]+ => ./staging' "$dir/go.mod" | awk '{print $1}' | sort -u |
      while read -r m; do go mod edit -replace "$m=$m@$staging"; done
    go get "k8s.io/kubernetes/cmd/kube-apiserver@${KUBE_VERSION}" >&2
    minor=$(echo "$KUBE_VERSION" | cut -d. -f2)
    # Stamp the version: unstamped builds report v0.0.0-master+$Format:%H$ and kubectl
    # cannot parse it.
    ldflags="-s -w -X k8s.io/component-base/version.gitVersion=${KUBE_VERSION}
      -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${minor}
      -X k8s.io/client-go/pkg/version.gitVersion=${KUBE_VERSION}
      -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=${minor}"
    for bin in kube-apiserver kubectl; do
      [[ -x "$DEST/$bin" ]] && continue
      go build -o "$DEST/$bin.tmp" -ldflags "$ldflags" "k8s.io/kubernetes/cmd/$bin" >&2
      mv "$DEST/$bin.tmp" "$DEST/$bin"
    done
  )
  rm -rf "$work"
  trap - EXIT
fi

if [[ ! -x "$DEST/etcd" ]]; then
  log "building etcd $ETCD_VERSION"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  (
    cd "$work"
    go mod init envtest-etcd >/dev/null 2>&1
    go get "go.etcd.io/etcd/server/v3@${ETCD_VERSION}" >&2
    go build -o "$DEST/etcd.tmp" -ldflags "-s -w" go.etcd.io/etcd/server/v3 >&2
    mv "$DEST/etcd.tmp" "$DEST/etcd"
  )
  rm -rf "$work"
  trap - EXIT
fi
echo "$DEST"
