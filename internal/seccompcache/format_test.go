package seccompcache

import (
	"errors"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

func TestFormat(t *testing.T) {
	key := [32]byte{1, 2, 3, 31: 9}
	prog := []unix.SockFilter{{Code: 0x20, K: 4}, {Code: 0x15, Jt: 1, Jf: 2, K: 0xc000003e}, {Code: 0x06, K: 0x7fff0000}}
	b := encode(key, 5, prog)
	k, flags, got, err := decode(b)
	if err != nil || k != key || flags != 5 || !slices.Equal(got, prog) {
		t.Fatalf("round trip: %v %v %d %v", err, k, flags, got)
	}
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"other magic", append([]byte("BSECCMP0"), b[8:]...)},
		{"cut short", b[:len(b)-1]},
		{"trailing bytes", append(slices.Clone(b), 0)},
		{"no instructions", encode(key, 0, nil)},
		{"more than the kernel takes", encode(key, 0, make([]unix.SockFilter, maxInsns+1))},
	} {
		if _, _, _, err := decode(tc.b); !errors.Is(err, errNotProgram) {
			t.Errorf("%s: decode = %v, want errNotProgram", tc.name, err)
		}
	}
}
