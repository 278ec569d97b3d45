// Package prompb holds the protobuf messages of Prometheus remote write
// 1.0, generated from remote.proto.
package prompb

//go:generate protoc --go_out=. --go_opt=paths=source_relative remote.proto
