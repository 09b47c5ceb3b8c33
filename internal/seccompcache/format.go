package seccompcache

import (
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// magic starts a program file; the rest is the key it was compiled for
// (32 bytes), the seccomp(2) flags and the instruction count (uint32
// each), then the instructions (code uint16, jt, jf uint8, k uint32), all
// little endian.
const magic = "BSECCMP1"

const headerSize = len(magic) + 32 + 4 + 4

// maxInsns is the kernel's limit on a classic BPF program (BPF_MAXINSNS).
const maxInsns = 4096

func encode(key [32]byte, flags uint, prog []unix.SockFilter) []byte {
	b := make([]byte, 0, headerSize+8*len(prog))
	b = append(b, magic...)
	b = append(b, key[:]...)
	b = binary.LittleEndian.AppendUint32(b, uint32(flags))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(prog)))
	for _, in := range prog {
		b = binary.LittleEndian.AppendUint16(b, in.Code)
		b = append(b, in.Jt, in.Jf)
		b = binary.LittleEndian.AppendUint32(b, in.K)
	}
	return b
}

var errNotProgram = errors.New("not a precompiled seccomp program")

func decode(b []byte) (key [32]byte, flags uint, prog []unix.SockFilter, err error) {
	if len(b) < headerSize || string(b[:len(magic)]) != magic {
		return key, 0, nil, errNotProgram
	}
	copy(key[:], b[len(magic):])
	flags = uint(binary.LittleEndian.Uint32(b[len(magic)+32:]))
	n := int(binary.LittleEndian.Uint32(b[len(magic)+36:]))
	if n == 0 || n > maxInsns || len(b) != headerSize+8*n {
		return key, 0, nil, fmt.Errorf("%w: %d instructions in %d bytes", errNotProgram, n, len(b))
	}
	prog = make([]unix.SockFilter, n)
	for i := range prog {
		in := b[headerSize+8*i:]
		prog[i] = unix.SockFilter{Code: binary.LittleEndian.Uint16(in), Jt: in[2], Jf: in[3], K: binary.LittleEndian.Uint32(in[4:])}
	}
	return key, flags, prog, nil
}
