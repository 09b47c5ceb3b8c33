package spec

import (
	"testing"

	"github.com/docker/docker/api/types/container"
)

// BenchmarkGenerate is spec generation on every container start,
// Docker's seccomp profile included.
func BenchmarkGenerate(b *testing.B) {
	cfg, hc := &container.Config{Tty: true}, &container.HostConfig{}
	for b.Loop() {
		if _, err := Generate(Input{Config: cfg, HostConfig: hc, Rootfs: "/r", Args: []string{"sh"}}); err != nil {
			b.Fatal(err)
		}
	}
}
