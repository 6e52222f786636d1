#!/usr/bin/env bash
# Builds the local control plane from pinned Go module versions (hack/versions.env) and caches the
# binaries outside the repository, keyed by version, so that a second run costs a stat per binary.
#
#   hack/build-control-plane.sh            # build what is missing, print the bin directory
#
# Why a wrapper module: k8s.io/kubernetes replaces every k8s.io/<staging> module with a local
# path, so `go install k8s.io/kubernetes/cmd/...@v` refuses it. A throw-away module that requires
# kubernetes and points each staging module at its published v0.Y.Z tag builds the same code.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
cache=${FERRY_CACHE:-$HOME/.cache/ferry}
bin="$cache/bin"
mkdir -p "$bin"
export CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-mod=mod
log() { printf '[build-control-plane] %s\n' "$*" >&2; }
# A long step says every 30 s that it is still going, so a first run does not look hung.
ticking() {
  local what=$1 started=$SECONDS
  shift
  (while sleep 30; do log "$what: still building ($((SECONDS - started)) s so far)"; done) &
  local ticker=$!
  local status=0
  "$@" || status=$?
  kill "$ticker" 2>/dev/null || true
  wait "$ticker" 2>/dev/null || true
  return "$status"
}

kube_bins=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
need_kube=0
for b in "${kube_bins[@]}"; do [ -x "$bin/$b-$KUBE_VERSION" ] || need_kube=1; done
if [ "$need_kube" = 1 ]; then
  start=$(date +%s)
  log "building Kubernetes $KUBE_VERSION (${kube_bins[*]}); a cold build takes several minutes per core"
  kube_work=$(mktemp -d "$cache/kube-build.XXXXXX")
  trap 'rm -rf "$kube_work"' EXIT
  work=$kube_work
  staging_minor="v0.${KUBE_VERSION#v1.}"
  modfile=$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  {
    echo "module ferry.dev/hack/kube-build"
    echo "go $(sed -n 's/^go //p' "$modfile")"
    echo "require k8s.io/kubernetes $KUBE_VERSION"
    echo "replace ("
    sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\t\1 => \1 '"$staging_minor"'#p' "$modfile"
    echo ")"
  } >"$work/go.mod"
  printf 'package main\n\nimport _ "k8s.io/kubernetes/cmd/kube-apiserver/app"\n\nfunc main() {}\n' >"$work/main.go"
  major=${KUBE_VERSION#v}; major=${major%%.*}
  minor=${KUBE_VERSION#v*.}; minor=${minor%%.*}
  ldflags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  ticking "Kubernetes $KUBE_VERSION" bash -c "cd '$work' && go mod download k8s.io/kubernetes >/dev/null && mkdir -p out &&
    go build -trimpath -ldflags '$ldflags' -o out/ \
      k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
      k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl"
  for b in "${kube_bins[@]}"; do mv "$work/out/$b" "$bin/$b-$KUBE_VERSION"; done
  rm -rf "$kube_work"
  log "Kubernetes built in $(($(date +%s) - start))s"
fi

if [ ! -x "$bin/etcd-$ETCD_VERSION" ]; then
  start=$(date +%s)
  log "building etcd $ETCD_VERSION"
  work=$(mktemp -d "$cache/etcd-build.XXXXXX")
  printf 'module ferry.dev/hack/etcd-build\n\ngo 1.24\n\nrequire go.etcd.io/etcd/server/v3 %s\n' "$ETCD_VERSION" >"$work/go.mod"
  ticking "etcd $ETCD_VERSION" bash -c "cd '$work' && go mod download go.etcd.io/etcd/server/v3 >/dev/null &&
    go build -trimpath -ldflags '-s -w' -o '$bin/etcd-$ETCD_VERSION' go.etcd.io/etcd/server/v3"
  rm -rf "$work"
  log "etcd built in $(($(date +%s) - start))s"
fi

# kwok and helm have no replace directives at these versions, so `go install` builds them as is.
for tool in "kwok sigs.k8s.io/kwok/cmd/kwok $KWOK_VERSION" "helm helm.sh/helm/v3/cmd/helm $HELM_VERSION"; do
  read -r name pkg version <<<"$tool"
  if [ ! -x "$bin/$name-$version" ]; then
    start=$(date +%s)
    log "building $name $version"
    tmpbin=$(mktemp -d "$cache/$name-build.XXXXXX")
    GOBIN="$tmpbin" GOFLAGS= ticking "$name $version" go install -trimpath -ldflags "-s -w" "$pkg@$version"
    mv "$tmpbin/$name" "$bin/$name-$version"
    rm -rf "$tmpbin"
    log "$name built in $(($(date +%s) - start))s"
  fi
done

# cert-manager's CRDs (plain YAML in its module): tests install the real API the operator's
# CertManager mode writes to. The controller itself is not needed for that.
cm_dir="$cache/cert-manager-$CERT_MANAGER_VERSION"
if [ ! -f "$cm_dir/crds.yaml" ]; then
  log "fetching cert-manager $CERT_MANAGER_VERSION CRDs"
  src=$(GOFLAGS= go mod download -json "github.com/cert-manager/cert-manager@$CERT_MANAGER_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  mkdir -p "$cm_dir"
  cat "$src"/deploy/crds/cert-manager.io_*.yaml >"$cm_dir/crds.yaml.tmp"
  mv "$cm_dir/crds.yaml.tmp" "$cm_dir/crds.yaml"
fi

# Unversioned links so that PATH="$bin/current:$PATH" gives kubectl, helm and friends.
mkdir -p "$bin/current"
for pair in "kube-apiserver $KUBE_VERSION" "kube-controller-manager $KUBE_VERSION" \
  "kube-scheduler $KUBE_VERSION" "kubectl $KUBE_VERSION" "etcd $ETCD_VERSION" \
  "kwok $KWOK_VERSION" "helm $HELM_VERSION"; do
  read -r name version <<<"$pair"
  ln -sfn "../$name-$version" "$bin/current/$name"
done
ln -sfn "$cm_dir/crds.yaml" "$bin/current/cert-manager-crds.yaml"
echo "$bin/current"
