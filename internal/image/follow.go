package image

import (
	"io"
	"os"
	"sync"
)

// growingFile lets a reader follow a file while a writer appends to it:
// reads block until more bytes arrive or the writer finishes. It is how a
// layer is unpacked while it still downloads.
type growingFile struct {
	mu   sync.Mutex
	cond *sync.Cond
	n    int64
	done bool
	err  error
}

func newGrowingFile() *growingFile {
	g := &growingFile{}
	g.cond = sync.NewCond(&g.mu)
	return g
}

// Write counts p as written (use it as a tee target after the file).
func (g *growingFile) Write(p []byte) (int, error) {
	g.mu.Lock()
	g.n += int64(len(p))
	g.mu.Unlock()
	g.cond.Broadcast()
	return len(p), nil
}

// finish says the writer is done; err (if any) is what readers get
// instead of EOF.
func (g *growingFile) finish(err error) {
	g.mu.Lock()
	g.done, g.err = true, err
	g.mu.Unlock()
	g.cond.Broadcast()
}

// wait blocks until the writer is done and returns its error.
func (g *growingFile) wait() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	for !g.done {
		g.cond.Wait()
	}
	return g.err
}

type followReader struct {
	f   *os.File
	g   *growingFile
	off int64
}

func (r *followReader) Read(p []byte) (int, error) {
	g := r.g
	g.mu.Lock()
	for r.off >= g.n && !g.done {
		g.cond.Wait()
	}
	n, done, err := g.n, g.done, g.err
	g.mu.Unlock()
	if r.off >= n {
		if done && err != nil {
			return 0, err
		}
		return 0, io.EOF
	}
	if int64(len(p)) > n-r.off {
		p = p[:n-r.off]
	}
	k, err := r.f.ReadAt(p, r.off)
	r.off += int64(k)
	if err == io.EOF && k > 0 {
		err = nil
	}
	return k, err
}
