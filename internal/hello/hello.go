package hello

import (
	"archive/tar"
	"bytes"
	"encoding/binary"
	"fmt"
	"runtime"
	"time"
)

// Message is what the program prints.
const Message = `
Hello from berth!
This message shows that your installation appears to be working correctly.

To generate this message, berth took the following steps:
 1. The berth client contacted the berth daemon.
 2. The berth daemon made the "hello-world" image from a tiny static
    program built into berth (no registry needed).
 3. The berth daemon created a new container from that image which runs the
    executable that produced the output you are currently reading.
 4. The berth daemon streamed that output to the berth client, which sent it
    to your terminal.

To try something more ambitious, you can run a busybox container with:
 $ berth run -it busybox sh
`

const (
	base       = 0x400000
	headerSize = 64 + 56 // ELF header + one program header
)

// Program returns the executable for GOARCH arch ("amd64" or "arm64").
func Program(arch string) ([]byte, error) {
	msg := []byte(Message)
	var machine uint16
	var code []byte
	switch arch {
	case "amd64":
		machine = 0x3e
		code = []byte{
			0xb8, 1, 0, 0, 0, // mov eax, 1 (write)
			0xbf, 1, 0, 0, 0, // mov edi, 1 (stdout)
			0x48, 0x8d, 0x35, 16, 0, 0, 0, // lea rsi, [rip+16] (the message)
			0xba, 0, 0, 0, 0, // mov edx, len
			0x0f, 0x05, // syscall
			0xb8, 60, 0, 0, 0, // mov eax, 60 (exit)
			0x31, 0xff, // xor edi, edi
			0x0f, 0x05, // syscall
		}
		binary.LittleEndian.PutUint32(code[18:], uint32(len(msg)))
	case "arm64":
		machine = 0xb7
		ins := []uint32{
			0xd2800020,                       // mov x0, #1
			0x100000e1,                       // adr x1, .+28 (the message)
			0xd2800002 | uint32(len(msg))<<5, // mov x2, #len
			0xd2800808,                       // mov x8, #64 (write)
			0xd4000001,                       // svc #0
			0xd2800000,                       // mov x0, #0
			0xd2800ba8,                       // mov x8, #93 (exit)
			0xd4000001,                       // svc #0
		}
		for _, in := range ins {
			code = binary.LittleEndian.AppendUint32(code, in)
		}
	default:
		return nil, fmt.Errorf("the built-in hello-world image has no program for %s", arch)
	}
	total := uint64(headerSize + len(code) + len(msg))
	var b bytes.Buffer
	w := func(v any) { _ = binary.Write(&b, binary.LittleEndian, v) }
	b.Write([]byte{0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	w(uint16(2))                 // ET_EXEC
	w(machine)                   // e_machine
	w(uint32(1))                 // e_version
	w(uint64(base + headerSize)) // e_entry
	w(uint64(64))                // e_phoff
	w(uint64(0))                 // e_shoff
	w(uint32(0))                 // e_flags
	w(uint16(64))                // e_ehsize
	w(uint16(56))                // e_phentsize
	w(uint16(1))                 // e_phnum
	w(uint16(0))                 // e_shentsize
	w(uint16(0))                 // e_shnum
	w(uint16(0))                 // e_shstrndx
	w(uint32(1))                 // PT_LOAD
	w(uint32(5))                 // PF_R|PF_X
	w(uint64(0))                 // p_offset
	w(uint64(base))              // p_vaddr
	w(uint64(base))              // p_paddr
	w(total)                     // p_filesz
	w(total)                     // p_memsz
	w(uint64(0x1000))            // p_align
	b.Write(code)
	b.Write(msg)
	return b.Bytes(), nil
}

// Created is the fixed creation time of the image, so its ID is stable.
var Created = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// RootfsTar returns an uncompressed tar holding /hello for this machine.
func RootfsTar() ([]byte, error) {
	prog, err := Program(runtime.GOARCH)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	if err := tw.WriteHeader(&tar.Header{Name: "hello", Mode: 0o755, Size: int64(len(prog)), ModTime: Created, Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(prog); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
