# gpuq — see `make help`.
GO        ?= go
BIN       ?= bin
PROTOC    ?= protoc
PROTO_SRC := $(wildcard proto/gpuq/v1/*.proto)
GOFLAGS_TEST ?= -race
# urfave/cli's man-page generator and grpc's request tracing are never used;
# leaving them out makes gpuqctl start faster. gpuqctl is linked statically
# (no cgo) for the same reason: no dynamic loader and libc at each start.
TAGS      ?= urfave_cli_no_docs,grpcnotrace
# go-nvml's header marks many functions deprecated; gcc would warn on each.
export CGO_CFLAGS ?= -O2 -g -Wno-deprecated-declarations

.PHONY: help build test bench sim demo proto proto-check lint install clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## build gpuqd, gpuqctl and gpuq-node into ./bin
	$(GO) build -tags $(TAGS) -trimpath -o $(BIN)/ ./gpuqd
	CGO_ENABLED=0 $(GO) build -tags $(TAGS) -trimpath -o $(BIN)/ ./gpuqctl
	$(GO) build -tags $(TAGS) -trimpath -o $(BIN)/gpuq-node ./node
	$(GO) build -trimpath -o $(BIN)/gpuq-shim ./node/shim

test: ## run every test with the race detector
	$(GO) test -tags $(TAGS) $(GOFLAGS_TEST) -count=1 ./...

bench: build ## run the benchmarks and print figures beside their baselines
	$(GO) test -tags $(TAGS) -run '^$$' -bench . -benchtime 1x -timeout 60m ./internal/e2e ./gpuqctl
	$(GO) test -tags $(TAGS) -run '^$$' -bench 'Submit$$' -benchtime 4000x ./internal/server
	$(GO) test -tags $(TAGS) -run '^$$' -bench 'Array|ListJobs' -benchtime 30x ./internal/server
	$(GO) test -tags $(TAGS) -run '^$$' -bench . -benchtime 2s ./internal/ctl ./internal/calendar ./internal/sched
	$(GO) test -tags $(TAGS) -run '^$$' -bench 'Snapshot' -benchtime 2000x ./internal/queue
	$(GO) test -tags $(TAGS) -run '^$$' -bench . -benchtime 20x ./internal/execrun ./internal/ctrdrun
	$(GO) test -tags $(TAGS) -run '^$$' -bench 'Accounting' -benchtime 5x -timeout 30m ./internal/server

sim: ## run the 72-hour scheduling simulation and print its report
	$(GO) test -count=1 ./internal/sim -run TestSimulation72h -v

demo: build ## start a small cluster and submit jobs from three time zones
	./examples/demo.sh

proto: ## regenerate the committed protobuf code with the pinned generators
	$(PROTOC) -I proto -I /usr/include \
	  --plugin=protoc-gen-go="$$($(GO) tool -n protoc-gen-go)" \
	  --plugin=protoc-gen-go-grpc="$$($(GO) tool -n protoc-gen-go-grpc)" \
	  --go_out=proto --go_opt=paths=source_relative \
	  --go-grpc_out=proto --go-grpc_opt=paths=source_relative \
	  $(patsubst proto/%,%,$(PROTO_SRC))

proto-check: proto ## fail when the committed generated code differs from a fresh generation
	git diff --exit-code -- proto/

lint: ## gofmt, go vet, staticcheck when installed
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	@if command -v staticcheck >/dev/null; then staticcheck ./...; else echo "staticcheck not installed; skipped"; fi

install: build ## install the binaries into /usr/local/bin
	install -m 0755 $(BIN)/gpuqd $(BIN)/gpuqctl $(BIN)/gpuq-node $(BIN)/gpuq-shim /usr/local/bin/

clean: ## remove build outputs
	rm -rf $(BIN)
