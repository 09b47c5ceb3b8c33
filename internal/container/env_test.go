package container

import (
	"slices"
	"testing"
)

func TestMergeEnv(t *testing.T) {
	for _, tc := range []struct {
		name       string
		base, over []string
		want       []string
	}{
		{"empty", nil, nil, []string{}},
		{"adds", []string{"A=1"}, []string{"B=2"}, []string{"A=1", "B=2"}},
		{"replaces in place", []string{"A=1", "B=2"}, []string{"A=x"}, []string{"A=x", "B=2"}},
		{"empty value replaces", []string{"A=1"}, []string{"A="}, []string{"A="}},
		{"key prefix is not the key", []string{"AB=1"}, []string{"A=2"}, []string{"AB=1", "A=2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := slices.Clone(tc.base)
			got := mergeEnv(tc.base, tc.over)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			if !slices.Equal(tc.base, base) {
				t.Fatalf("base was modified: %q", tc.base)
			}
		})
	}
}
