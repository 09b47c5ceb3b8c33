package httputil

import "testing"

func TestMatchLabels(t *testing.T) {
	labels := map[string]string{"tier": "front", "team": ""}
	for _, tc := range []struct {
		want []string
		ok   bool
	}{
		{nil, true},
		{[]string{"tier"}, true},
		{[]string{"tier=front"}, true},
		{[]string{"tier=back"}, false},
		{[]string{"team="}, true},
		{[]string{"tier", "nope"}, false},
	} {
		if got := MatchLabels(tc.want, labels); got != tc.ok {
			t.Errorf("MatchLabels(%v) = %v, want %v", tc.want, got, tc.ok)
		}
	}
}
