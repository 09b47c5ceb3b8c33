package logs

import (
	"maps"
	"testing"
)

func TestAttributes(t *testing.T) {
	info := Info{ContainerID: "0123456789abcdef0123", ContainerName: "/web", ImageID: "sha256:feedfacecafe0000", ImageName: "busybox",
		Labels: map[string]string{"app": "shop", "tier": "front", "other": "x"}, Env: []string{"REGION=eu west", "DEBUG=1", "HOME=/root"}}
	for _, tc := range []struct {
		name string
		opts map[string]string
		want map[string]string
		err  bool
	}{
		{"none", map[string]string{"max-size": "1m"}, nil, false},
		{"labels and env by name", map[string]string{"labels": "app,missing", "env": "REGION,NOPE"}, map[string]string{"app": "shop", "REGION": "eu west"}, false},
		{"regexes", map[string]string{"labels-regex": "^t", "env-regex": "^DEB"}, map[string]string{"tier": "front", "DEBUG": "1"}, false},
		{"tag", map[string]string{"tag": "{{.Name}}/{{.ID}}/{{.ImageName}}/{{.DaemonName}}"}, map[string]string{"tag": "web/0123456789ab/busybox/docker"}, false},
		{"tag with an unknown field", map[string]string{"tag": "{{.Bogus}}"}, nil, true},
		{"bad regex", map[string]string{"env-regex": "("}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Attributes(tc.opts, info)
			if (err != nil) != tc.err || !maps.Equal(got, tc.want) {
				t.Fatalf("got %v, %v; want %v (error %v)", got, err, tc.want, tc.err)
			}
		})
	}
}

func TestDetails(t *testing.T) {
	if got := Details(nil); got != " " {
		t.Fatalf("no attributes: %q, want a lone space as Docker", got)
	}
	if got := Details(map[string]string{"tag": "a/b", "REGION": "eu west", "app": "x=y"}); got != "REGION=eu+west,app=x%3Dy,tag=a%2Fb " {
		t.Fatalf("got %q", got)
	}
}

func TestParseConfigChecksAttributeOptions(t *testing.T) {
	for _, opts := range []map[string]string{{"labels-regex": "["}, {"tag": "{{"}} {
		if _, err := ParseConfig("json-file", opts); err == nil {
			t.Errorf("%v: want an error", opts)
		}
	}
	if _, err := ParseConfig("local", map[string]string{"tag": "x"}); err == nil {
		t.Error("tag for the local driver: want an error")
	}
}
