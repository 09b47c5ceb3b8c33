//go:build shimembed

package shimbin

import _ "embed"

// program is cmd/berth-shim, built by hack/build.sh before berth.
//
//go:embed berth-shim.bin
var program []byte
