package main

import (
	"strings"
	"testing"
)

func TestSummarize(t *testing.T) {
	for _, tc := range []struct {
		xs            []float64
		med, min, max float64
	}{
		{[]float64{3}, 3, 3, 3},
		{[]float64{5, 1, 3}, 3, 1, 5},
		{[]float64{4, 1, 3, 2}, 2.5, 1, 4},
	} {
		s := summarize("s", tc.xs)
		if s.med != tc.med || s.min != tc.min || s.max != tc.max {
			t.Errorf("summarize(%v) = %+v, want med %v min %v max %v", tc.xs, *s, tc.med, tc.min, tc.max)
		}
	}
	if summarize("s", nil) != nil {
		t.Error("summarize of nothing is not nil")
	}
}

func TestRenderRatioAndMissingSides(t *testing.T) {
	out := render([]row{
		{figure: "both", berth: summarize("s", []float64{0.1, 0.2, 0.3}), docker: summarize("s", []float64{0.4})},
		{figure: "berth only", berth: summarize("MB", []float64{18.5})},
	})
	for _, want := range []string{
		"| both | 0.200 s (0.100–0.300) | 0.400 s | 0.50 |",
		"| berth only | 18.5 MB | – | – |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}
