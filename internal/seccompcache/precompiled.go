//go:build linux && cgo && seccomp && seccompcache

package seccompcache

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"

	"github.com/opencontainers/runc/libcontainer/configs"
	"github.com/opencontainers/runc/libcontainer/seccomp"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// initFd is where the init finds the program: the creator passes it as
// libcontainer's Process.ExtraFiles[0]. libcontainer's own files for the
// init (pipes, sockets, the exec fifo) come after it and are not regular
// files.
const initFd = 3

// key names what a program was compiled from: the config, and the code
// that compiles it (runc's version, libseccomp's, this file's format).
func key(cfg *configs.Seccomp) ([32]byte, error) {
	b, err := json.Marshal(cfg)
	if err != nil {
		return [32]byte{}, err
	}
	h := sha256.New()
	h.Write([]byte(magic))
	h.Write([]byte(compilerVersion()))
	h.Write(b)
	var k [32]byte
	h.Sum(k[:0])
	return k, nil
}

// compilerVersion is computed when first needed: the shim program runs
// this package's init in every shim, creator and init.
var compilerVersion = sync.OnceValue(func() string {
	v := "runc ?"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/opencontainers/runc" {
				v = "runc " + d.Version
			}
		}
	}
	ma, mi, mc := libseccomp.GetLibraryVersion()
	return fmt.Sprintf("%s libseccomp %d.%d.%d", v, ma, mi, mc)
})

// Open returns, open for reading, the file in dir that holds the program
// libcontainer's InitSeccomp would load for cfg, compiling it and storing
// it there first if it is not yet. The caller gives it to the init as its
// first extra file and closes it once the init has started. nil, nil for
// no seccomp. An error leaves the init to compile the filter itself.
func Open(dir string, cfg *configs.Seccomp) (*os.File, error) {
	if f, err := Find(dir, cfg); f != nil || err != nil || cfg == nil {
		return f, err
	}
	k, name, err := path(dir, cfg)
	if err != nil {
		return nil, err
	}
	prog, flags, err := seccomp.Compile(cfg)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	// Written whole under a private name, then renamed: a reader never
	// sees half a program, and concurrent creators race harmlessly.
	tmp := name + ".tmp" + strconv.Itoa(os.Getpid())
	if err := os.WriteFile(tmp, encode(k, flags, prog), 0o600); err != nil {
		os.Remove(tmp)
		return nil, err
	}
	if err := os.Rename(tmp, name); err != nil {
		os.Remove(tmp)
		return nil, err
	}
	return os.Open(name)
}

// Find is Open without the compiling: nil, nil if dir holds no program for
// cfg. The shim uses it for exec, so as not to keep libseccomp's and the
// compiler's memory for the container's life.
func Find(dir string, cfg *configs.Seccomp) (*os.File, error) {
	if cfg == nil {
		return nil, nil
	}
	_, name, err := path(dir, cfg)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return f, err
}

func path(dir string, cfg *configs.Seccomp) (k [32]byte, name string, err error) {
	if k, err = key(cfg); err != nil {
		return k, "", err
	}
	return k, filepath.Join(dir, hex.EncodeToString(k[:])), nil
}

// Adopt runs in libcontainer's init before libcontainer.Init: if its fd 3
// is a program Open made, it reads it, closes the fd (the container's
// process never gets it) and has InitSeccomp load the program when the
// config it gets is the one the program was compiled from. Anything else
// leaves InitSeccomp to compile as runc does.
func Adopt() {
	var st unix.Stat_t
	if unix.Fstat(initFd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG || st.Size > int64(headerSize+8*maxInsns) {
		return
	}
	b := make([]byte, st.Size)
	n, err := unix.Pread(initFd, b, 0)
	if err != nil || n != len(b) || !strings.HasPrefix(string(b), magic) {
		return
	}
	unix.Close(initFd) // ours: the container's process must not get it
	k, flags, prog, err := decode(b)
	if err != nil {
		return
	}
	seccomp.Precompiled = func(cfg *configs.Seccomp) ([]unix.SockFilter, uint, bool) {
		got, err := key(cfg)
		return prog, flags, err == nil && got == k
	}
}
