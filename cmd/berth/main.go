// Command berth is the container engine: its CLI, the daemon (`berth
// daemon`), the per-container shim (`berth shim`, hidden) and
// libcontainer's init (`berth init`, hidden), the embedded DNS resolver
// (`berth dns-resolver`, hidden) in one binary. Run as
// berth-init (bind-mounted into a container by `run --init`) it is the
// container's tiny init.
package main

import (
	"os"
	"path/filepath"

	_ "github.com/opencontainers/runc/libcontainer/nsenter" // runs before Go starts, only for `init`

	"github.com/berthproject/berth/internal/cli/root"
	"github.com/berthproject/berth/internal/daemon"
	_ "github.com/berthproject/berth/internal/hugeheap" // huge pages for the heap of a CLI command or init
	"github.com/berthproject/berth/internal/initproc"
	"github.com/berthproject/berth/internal/network/dns"
	"github.com/berthproject/berth/internal/registry"
	"github.com/berthproject/berth/internal/shim"
)

func main() {
	if filepath.Base(os.Args[0]) == "berth-init" {
		os.Exit(initproc.Main(os.Args[1:]))
	}
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "init":
			shim.InitMain() // never returns
		case shim.CreatorMode:
			os.Exit(shim.CreatorMain())
		case shim.DestroyMode:
			os.Exit(shim.DestroyMain(os.Args[2:]))
		case "shim":
			os.Exit(shim.Main(os.Args[2:]))
		case "daemon":
			os.Exit(daemon.Main(os.Args[2:]))
		case "dns-resolver":
			os.Exit(dns.Main(os.Args[2:]))
		case "registry":
			os.Exit(registry.Main(os.Args[2:]))
		}
	}
	os.Exit(root.Main(os.Args[1:]))
}
