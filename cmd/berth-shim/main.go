package main

import (
	"fmt"
	"os"

	_ "github.com/opencontainers/runc/libcontainer/nsenter" // runs before Go starts, only for `init`

	_ "github.com/berthproject/berth/internal/hugeheap" // huge pages for the heap of init (not of the shim)
	"github.com/berthproject/berth/internal/shim"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "init":
			shim.InitMain() // never returns
		case shim.CreatorMode:
			os.Exit(shim.CreatorMain())
		case shim.DestroyMode:
			os.Exit(shim.DestroyMain(os.Args[2:]))
		case "shim":
			// Started as /proc/self/fd/N, the kernel named it "N".
			_ = os.WriteFile("/proc/self/comm", []byte("berth-shim"), 0)
			os.Exit(shim.Main(os.Args[2:]))
		}
	}
	fmt.Fprintln(os.Stderr, "berth-shim is started by the berth daemon; it is not a command of its own")
	os.Exit(2)
}
