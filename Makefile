# The test command the README and CI use.
.PHONY: test bench build
test:
	go test -race -count=1 -timeout 12m ./...

# The version pathlens reports (pathlens version, User-Agent): git describe
# when this is a git checkout, else the build info's (see probe/version.go).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null)
LDFLAGS := $(if $(VERSION),-ldflags "-X github.com/pathlens/pathlens/probe.Version=$(VERSION)")

build:
	go build $(LDFLAGS) -o bin/pathlens ./cmd/pathlens

bench:
	bench/run.sh
