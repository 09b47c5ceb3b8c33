//go:build !shimembed

package shimbin

// program is empty: built without the shimembed tag, berth is its own shim.
var program []byte
