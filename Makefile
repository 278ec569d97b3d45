# The test command the README and CI use.
.PHONY: test bench build
test:
	go test -race -count=1 -timeout 12m ./...

build:
	go build -o bin/pathlens ./cmd/pathlens

bench:
	bench/run.sh
