package containers

import (
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/berthproject/berth/internal/api/httputil"
	ctr "github.com/berthproject/berth/internal/container"
)

// record is a running container as the service keeps it.
func record(i int) ctr.Record {
	return ctr.Record{
		ID:      fmt.Sprintf("%064x", i+1),
		Name:    fmt.Sprintf("/bench-%d", i),
		Created: time.Unix(1_700_000_000, 0),
		Path:    "sleep", Args: []string{"3600"},
		Config: &container.Config{
			Image: "busybox", Cmd: []string{"sleep", "3600"},
			Env:    []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
			Labels: map[string]string{"com.example.role": "bench"},
		},
		HostConfig: &container.HostConfig{NetworkMode: "default", RestartPolicy: container.RestartPolicy{Name: "no"}},
		Image:      "sha256:7bedf5e707ce35055d0de447d92f5540b34eb314747b4525c71055987d445812",
		State:      ctr.State{Status: "running", Pid: 1000 + i, StartedAt: time.Unix(1_700_000_001, 0)},
	}
}

// BenchmarkListEncode is GET /containers/json with 100 running
// containers: conversion to the API's summaries and JSON encoding.
func BenchmarkListEncode(b *testing.B) {
	recs := make([]ctr.Record, 100)
	for i := range recs {
		recs[i] = record(i)
	}
	b.ReportAllocs()
	for b.Loop() {
		out := make([]container.Summary, 0, len(recs))
		for i := range recs {
			out = append(out, summary(&recs[i]))
		}
		httputil.WriteJSON(httptest.NewRecorder(), 200, out)
	}
}

// BenchmarkInspectEncode is GET /containers/{id}/json.
func BenchmarkInspectEncode(b *testing.B) {
	rec := record(0)
	b.ReportAllocs()
	for b.Loop() {
		httputil.WriteJSON(httptest.NewRecorder(), 200, inspect(&rec))
	}
}
