# meshd Makefile, laid out as kubebuilder's project-v4 one.

IMG ?= meshd:dev
KUBE_VERSION ?= v1.37.2
ETCD_VERSION ?= v3.6.16
CONTROLLER_TOOLS_VERSION ?= v0.23.0
KUSTOMIZE_VERSION ?= v5.8.3
KIND_VERSION ?= v0.33.0
KIND_CLUSTER ?= meshd
# cert-manager and Gateway API at the versions meshd's Go types use (go.mod).
CERT_MANAGER_VERSION ?= $(shell go list -m -f '{{.Version}}' github.com/cert-manager/cert-manager)
GATEWAY_API_DIR = $(shell go list -m -f '{{.Dir}}' sigs.k8s.io/gateway-api)
# Integration tests start several API servers; keep the whole run well inside CI's limit.
TEST_TIMEOUT ?= 25m

# Envoy's messages marshal through the code vtprotobuf generated for them, three to four
# times faster than reflection, as istiod ships (internal/protomarshal says why it stays
# deterministic). Every go command here builds with the tag.
export GOFLAGS := $(strip $(GOFLAGS) -tags=vtprotobuf)

SHELL = /usr/bin/env bash -o pipefail
.SHELLFLAGS = -ec

LOCALBIN ?= $(CURDIR)/bin
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen-$(CONTROLLER_TOOLS_VERSION)
KUSTOMIZE ?= $(LOCALBIN)/kustomize-$(KUSTOMIZE_VERSION)
KIND ?= $(LOCALBIN)/kind-$(KIND_VERSION)
# envtest's binaries are built once per version into a cache outside the clone (see
# hack/envtest-assets.sh) and linked here, so a fresh clone reuses them.
ENVTEST_ASSETS ?= $(LOCALBIN)/k8s/$(KUBE_VERSION)-etcd-$(ETCD_VERSION)
KUBECTL ?= $(ENVTEST_ASSETS)/kubectl

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Display this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: controller-gen ## Generate CRDs (with Istio's older served versions), RBAC and webhook configurations from the markers.
	$(CONTROLLER_GEN) rbac:roleName=manager crd webhook paths="./api/..." paths="./controllers/..." paths="./webhooks/..." paths="./internal/ca/..." paths="./dataplane/..." output:crd:artifacts:config=config/crd/bases output:webhook:artifacts:config=config/webhook
	go run ./hack/crd-versions config/crd/bases

.PHONY: generate
generate: controller-gen ## Generate DeepCopy methods.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: fmt
fmt: ## Run go fmt.
	go fmt ./...

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: test
test: envtest ## Unit, golden and envtest integration tests (real kube-apiserver and etcd).
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" MESHD_KUBECTL="$(KUBECTL)" go test -timeout $(TEST_TIMEOUT) -count=1 ./...

.PHONY: bench
bench: envtest ## Measure generation against the issue's build-and-marshal floor per istiod benchmark shape, one change against full generation, and convergence and memory of 2,000 ADS streams on envtest; prints a table and writes bench/results.md.
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" MESHD_BENCH=1 go test ./test/bench -run TestBenchReport -count=1 -v -timeout 30m | grep -v '^=== RUN'
	@echo "Per-size Go benchmarks (100, 1k, 10k services): go test ./test/bench -run '^$$' -bench . -benchmem"

.PHONY: verify
verify: manifests generate ## Fail if generated files are out of date.
	git diff --exit-code -- config/crd config/rbac api

.PHONY: dev
dev: envtest build-dev ## Run meshd against an embedded kube-apiserver and etcd; data kept in bin/dev.
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" $(LOCALBIN)/meshd-dev --dir=$(LOCALBIN)/dev --assets=$(ENVTEST_ASSETS) \
		--metrics-bind-address=:15014 --health-probe-bind-address=:8080 --kubectl=$(KUBECTL)

##@ Build

.PHONY: build
build: ## Build the manager binary.
	go build -o $(LOCALBIN)/meshd ./cmd/meshd

.PHONY: build-dev
build-dev:
	go build -o $(LOCALBIN)/meshd-dev ./cmd/meshd-dev

.PHONY: docker-build
docker-build: docker-check ## Build the manager image (needs a Docker engine).
	docker build -t $(IMG) .

.PHONY: kind-load
kind-load: docker-build kind ## Load the manager image into the kind cluster.
	$(KIND) load docker-image $(IMG) --name $(KIND_CLUSTER)

##@ Deployment

.PHONY: docker-check
docker-check:
	@command -v docker >/dev/null || { echo "docker is not installed: kind clusters and e2e tests need a Docker engine"; exit 1; }
	@docker info >/dev/null 2>&1 || { echo "no Docker engine is running: kind clusters and e2e tests need one"; exit 1; }

.PHONY: kind-up
kind-up: docker-check kind ## Create a kind cluster with cert-manager and the Gateway API CRDs.
	@$(KIND) get clusters | grep -qx $(KIND_CLUSTER) || $(KIND) create cluster --name $(KIND_CLUSTER) --wait 120s
	$(MAKE) install-cert-manager install-gateway-api

.PHONY: kind-down
kind-down: docker-check kind ## Delete the kind cluster.
	$(KIND) delete cluster --name $(KIND_CLUSTER)

.PHONY: install-cert-manager
install-cert-manager: ## Install cert-manager (the version in go.mod) and wait for its webhook.
	kubectl apply --server-side -f https://github.com/cert-manager/cert-manager/releases/download/$(CERT_MANAGER_VERSION)/cert-manager.yaml
	kubectl -n cert-manager rollout status deployment/cert-manager-webhook --timeout=180s

.PHONY: install-gateway-api
install-gateway-api: ## Install the Gateway API CRDs (standard channel, the version in go.mod).
	kubectl apply --server-side -f $(GATEWAY_API_DIR)/config/crd/standard

.PHONY: e2e
e2e: docker-check ## Run the e2e tests (test/e2e, -tags=e2e) against the current kind cluster running meshd.
	cd test/e2e && go test -tags e2e -count=1 -timeout 60m ./...

.PHONY: install
install: manifests kustomize ## Install the CRDs into the cluster of the current kubeconfig (server-side: the CRDs are large).
	$(KUSTOMIZE) build config/crd | kubectl apply --server-side -f -

.PHONY: uninstall
uninstall: manifests kustomize ## Remove the CRDs.
	$(KUSTOMIZE) build config/crd | kubectl delete --ignore-not-found -f -

.PHONY: deploy
deploy: manifests kustomize ## Deploy meshd to the cluster of the current kubeconfig (on kind: make kind-up kind-load deploy).
	cd config/manager && $(KUSTOMIZE) edit set image controller=$(IMG)
	$(KUSTOMIZE) build config/default | kubectl apply --server-side -f -

.PHONY: undeploy
undeploy: kustomize ## Remove meshd from the cluster.
	$(KUSTOMIZE) build config/default | kubectl delete --ignore-not-found -f -

##@ Dependencies

$(LOCALBIN):
	mkdir -p $(LOCALBIN)

.PHONY: controller-gen
controller-gen: $(CONTROLLER_GEN)
$(CONTROLLER_GEN): | $(LOCALBIN)
	GOBIN=$(LOCALBIN)/.gobin go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_TOOLS_VERSION)
	mv $(LOCALBIN)/.gobin/controller-gen $@

.PHONY: kustomize
kustomize: $(KUSTOMIZE)
$(KUSTOMIZE): | $(LOCALBIN)
	GOBIN=$(LOCALBIN)/.gobin go install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)
	mv $(LOCALBIN)/.gobin/kustomize $@

.PHONY: kind
kind: $(KIND)
$(KIND): | $(LOCALBIN)
	GOBIN=$(LOCALBIN)/.gobin go install sigs.k8s.io/kind@$(KIND_VERSION)
	mv $(LOCALBIN)/.gobin/kind $@

.PHONY: envtest
envtest: | $(LOCALBIN) ## Build (once per version, cached outside the clone) kube-apiserver, etcd and kubectl.
	@mkdir -p $(dir $(ENVTEST_ASSETS))
	@ln -sfn "$$(hack/envtest-assets.sh $(KUBE_VERSION) $(ETCD_VERSION))" $(ENVTEST_ASSETS)
