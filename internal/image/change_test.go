package image

import (
	"reflect"
	"testing"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
)

func TestApplyChanges(t *testing.T) {
	for _, tc := range []struct {
		name    string
		changes []string
		check   func(c dockerspec.DockerOCIImageConfig) bool
		wantErr bool
	}{
		{"cmd json", []string{`CMD ["/bin/sh","-c","echo hi"]`}, func(c dockerspec.DockerOCIImageConfig) bool {
			return reflect.DeepEqual(c.Cmd, []string{"/bin/sh", "-c", "echo hi"})
		}, false},
		{"cmd shell form", []string{`CMD echo hi`}, func(c dockerspec.DockerOCIImageConfig) bool {
			return reflect.DeepEqual(c.Cmd, []string{"/bin/sh", "-c", "echo hi"})
		}, false},
		{"entrypoint", []string{`ENTRYPOINT ["/bin/busybox"]`}, func(c dockerspec.DockerOCIImageConfig) bool {
			return reflect.DeepEqual(c.Entrypoint, []string{"/bin/busybox"})
		}, false},
		{"env forms", []string{`ENV A=1 B="two words"`, `ENV C three words`, `ENV A=x`}, func(c dockerspec.DockerOCIImageConfig) bool {
			return reflect.DeepEqual(c.Env, []string{"A=x", "B=two words", "C=three words"})
		}, false},
		{"label expose workdir user", []string{`LABEL a=b`, `EXPOSE 80 53/udp`, `WORKDIR /srv`, `USER nobody`, `STOPSIGNAL SIGINT`}, func(c dockerspec.DockerOCIImageConfig) bool {
			_, p80 := c.ExposedPorts["80/tcp"]
			_, p53 := c.ExposedPorts["53/udp"]
			return c.Labels["a"] == "b" && p80 && p53 && c.WorkingDir == "/srv" && c.User == "nobody" && c.StopSignal == "SIGINT"
		}, false},
		{"unknown instruction", []string{`RUN true`}, nil, true},
		{"bad label", []string{`LABEL novalue`}, nil, true},
		{"unterminated quote", []string{`ENV A="x`}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c dockerspec.DockerOCIImageConfig
			err := ApplyChanges(&c, tc.changes)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if err == nil && !tc.check(c) {
				t.Fatalf("unexpected config %+v", c)
			}
		})
	}
}
