# emcd build and test entry points. Needs Go 1.26 and a C compiler (cgo:
# libsecp256k1 signatures and NVML).
GO        ?= go
BUILD_DIR ?= build
export CGO_ENABLED := 1
export CGO_CFLAGS  := -O2 -g -Wno-deprecated-declarations

GIT_COMMIT := $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS    := -X github.com/emc-network/emcd/params.GitCommit=$(GIT_COMMIT)

# Core packages that also run under the race detector in `make test`.
RACE_DIRS := config consensus txpool state staking genesis jsonrpc p2p node router computing
RACE_PKGS  = $(addprefix ./,$(addsuffix /...,$(wildcard $(RACE_DIRS))))

.PHONY: all build run test test-short race vet fmt lint bench clean proto proto-tools image devnet devnet-down

all: build

build: ## build ./build/emcd
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BUILD_DIR)/emcd ./cmd/emcd

run: build ## single-node dev chain with all roles, JSON-RPC on 127.0.0.1:8545
	$(BUILD_DIR)/emcd --dev $(ARGS)

test: vet ## everything CI runs: vet, all tests (incl. multi-process), race on core packages
	$(GO) test -timeout 30m ./...
	$(MAKE) race

test-short: ## quick iteration: skips multi-process tests
	$(GO) test -short ./...

race:
	$(if $(strip $(RACE_PKGS)),$(GO) test -race -short -timeout 20m $(RACE_PKGS),@echo "no race packages yet")

vet:
	$(GO) vet ./...

fmt:
	gofmt -l -w .

bench: ## Go benchmarks of the core packages
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf $(BUILD_DIR)

# The generated operator API code is committed; regenerate after editing the
# .proto (needs protoc: apt-get install protobuf-compiler).
proto-tools:
	$(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
	$(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2

proto:
	cd operator/proto && PATH="$$($(GO) env GOPATH)/bin:$$PATH" protoc -I . \
		--go_out=. --go_opt=paths=source_relative \
		--go-grpc_out=. --go-grpc_opt=paths=source_relative \
		emcd/operator/v1/operator.proto

# Container image and a local Docker devnet (docker/): the image packs a
# static emcd FROM scratch; the devnet runs 4 validators, 1 router and 2
# compute nodes on their own bridge network, one IP each.
image: ## build the emcd:dev image (static binary FROM scratch)
	GO=$(GO) BUILD_DIR=$(BUILD_DIR) docker/build-image.sh

devnet: image ## start the Docker devnet and wait until its nodes agree on a head
	BUILD_DIR=$(BUILD_DIR) docker/devnet/up.sh

devnet-down: ## remove the devnet's containers, network and data dir
	BUILD_DIR=$(BUILD_DIR) docker/devnet/down.sh
