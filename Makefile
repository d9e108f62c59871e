# Tool versions, pinned. staticcheck v0.8.2 (2026.2.2) is the newest
# release and runs with Go 1.26; protoc-gen-go matches the
# google.golang.org/protobuf module in go.mod.
STATICCHECK_VERSION        := v0.8.2
PROTOC_GEN_GO_VERSION      := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.5.1

# Our .proto files.
PROTOS = $(shell find . -name '*.proto' ! -path './.git/*' | sed 's|^\./||' | sort)

# The packages of the workspace's modules (go.work): mesh, the benchmarks,
# the CLI, the examples, the SQLite and PostgreSQL stores and the browser
# tests. usertest is a module outside the workspace that imports mesh as an
# application does; deploy/kubernetes, one that checks the Kubernetes
# manifests with the Kubernetes API's types, kept out of mesh's module graph.
PKGS = ./... ./bench/... ./cmd/mesh/... ./examples/... ./store/sqlite/... ./store/postgres/... ./e2e/...

.PHONY: all test postgres-test demo lint proto bench bench-full mesh cluster cluster-down rolling-restart

all: lint test

# Every test of every module, with the race detector.
test:
	go test -race -count=1 -timeout 20m $(PKGS)
	cd usertest && GOWORK=off go test -race -count=1 -timeout 10m ./...
	cd deploy/kubernetes && GOWORK=off go test -race -count=1 ./...

# The PostgreSQL store's tests alone. They start throwaway servers of their
# own from the installed PostgreSQL binaries (Debian: apt-get install
# postgresql), and are skipped if there are none, unless CI=true.
postgres-test:
	go test -race -count=1 -timeout 10m ./store/postgres/...

# The counter example: three nodes as child processes over one SQLite file,
# and a client. SECURE=1 runs it over mutual TLS and sealed gossip.
demo:
	go run ./examples/counter $(if $(filter 1,$(SECURE)),-secure)

# gofmt (generated *.pb.go excepted), go vet and staticcheck.
lint:
	@unformatted="$$(find . -name '*.go' ! -name '*.pb.go' ! -path './.git/*' -print0 | xargs -0 gofmt -l)"; \
	if [ -n "$$unformatted" ]; then echo "gofmt -w needed on:"; echo "$$unformatted"; exit 1; fi
	go vet $(PKGS)
	cd usertest && GOWORK=off go vet ./...
	cd deploy/kubernetes && GOWORK=off go vet ./...
	go run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) $(PKGS)
	cd deploy/kubernetes && GOWORK=off go run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

# Regenerates the committed *.pb.go files. Needs protoc (Debian package
# protobuf-compiler); protoc-gen-go is installed into ./bin.
proto:
	@command -v protoc >/dev/null || { echo "protoc not found: apt-get install protobuf-compiler"; exit 1; }
	GOBIN="$(CURDIR)/bin" go install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	GOBIN="$(CURDIR)/bin" go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)
	protoc -I . --plugin=protoc-gen-go="$(CURDIR)/bin/protoc-gen-go" \
		--plugin=protoc-gen-go-grpc="$(CURDIR)/bin/protoc-gen-go-grpc" \
		--go_out=. --go_opt=paths=source_relative \
		--go-grpc_out=. --go-grpc_opt=paths=source_relative $(PROTOS)

bench:
	bash scripts/bench.sh quick

bench-full:
	bash scripts/bench.sh full

# The operator CLI, into ./bin.
mesh:
	go build -o bin/mesh ./cmd/mesh

# Three chat nodes as OS processes with admin endpoints on 127.0.0.1:9101-9103
# (EXAMPLE=game for game nodes); bin/mesh talks to them. Stop with make cluster-down.
cluster:
	bash scripts/cluster.sh up 3

cluster-down:
	bash scripts/cluster.sh down

# Restarts every node of the local cluster in turn, each drained first.
rolling-restart:
	bash scripts/cluster.sh rolling
