// Package e2e holds end-to-end tests that run the built pathlens binary
// against the lab's servers (and, where the kernel allows, across a
// delay line between network namespaces) and hold its phase timings to
// what curl measures on the same target. It has no code of its own.
//
// The tests only ever send traffic to loopback or to addresses inside
// network namespaces they create and delete themselves.
package e2e
