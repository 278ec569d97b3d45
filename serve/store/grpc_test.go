package store

import (
	"testing"
	"time"

	"github.com/pathlens/pathlens/probe"
)

// A gRPC Result keeps its grpc block through storage.
func TestGRPCResultRoundTrip(t *testing.T) {
	s, _ := openTemp(t)
	at := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	r := &probe.Result{Schema: probe.Schema, Target: "grpc://127.0.0.1:50051", Kind: "grpc", StartedAt: at,
		TotalMS: 1810, Phases: phases([]string{"connect", "request", "wait", "stream"}, 0.3, 0.5, 0.3, 1808),
		GRPC: &probe.GRPCInfo{StatusName: "OK", StatusOrigin: probe.GRPCStatusServer, Messages: 10, Bytes: 1000,
			GapsMS: []float64{200.1, 200.4, 201}, MaxGapMS: 201, Method: "/pathlens.lab.Stream/Messages", ExpectMessages: 10,
			HeadersReceived: true, TrailersReceived: true, MaxRecvBytes: probe.DefaultGRPCMaxRecv},
		Findings: []probe.Finding{}, Success: true}
	write(t, s, Record{Target: "slow", Module: "lab-grpc-slow-stream", Result: r})
	got, ok, err := s.Latest(ctx, "slow")
	if err != nil || !ok {
		t.Fatalf("latest: %v %v", ok, err)
	}
	sameJSON(t, got.Result, r)
	if got.Result.GRPC == nil || got.Result.GRPC.Messages != 10 || len(got.Result.GRPC.GapsMS) != 3 {
		t.Errorf("grpc = %+v", got.Result.GRPC)
	}
}
