package httputil

import (
	"testing"

	"github.com/docker/docker/api/types/filters"
)

func TestBoolFilter(t *testing.T) {
	for _, tc := range []struct {
		args     []filters.KeyValuePair
		value    bool
		want     bool // BoolFilter's value
		set      bool
		excludes bool // BoolFilterExcludes(f, "dangling", value)
	}{
		{nil, true, false, false, false}, // absent: excludes nothing (ExactMatch alone would say true)
		{[]filters.KeyValuePair{filters.Arg("dangling", "true")}, true, true, true, false},
		{[]filters.KeyValuePair{filters.Arg("dangling", "1")}, false, true, true, true},
		{[]filters.KeyValuePair{filters.Arg("dangling", "false")}, true, false, true, true},
		{[]filters.KeyValuePair{filters.Arg("dangling", "0")}, false, false, true, false},
	} {
		f := filters.NewArgs(tc.args...)
		got, set := BoolFilter(f, "dangling")
		if got != tc.want || set != tc.set || BoolFilterExcludes(f, "dangling", tc.value) != tc.excludes {
			t.Errorf("%v: BoolFilter = %v, %v; Excludes(%v) = %v", tc.args, got, set, tc.value, BoolFilterExcludes(f, "dangling", tc.value))
		}
	}
}
