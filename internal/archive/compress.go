package archive

import (
	"bufio"
	"bytes"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Compression is the compression a stream was found to carry.
type Compression int

const (
	Uncompressed Compression = iota
	Gzip
	Zstd
)

var (
	gzipMagic = []byte{0x1f, 0x8b}
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// DetectCompression peeks at the start of r and reports its compression.
// The returned reader yields the whole stream, peeked bytes included.
func DetectCompression(r io.Reader) (Compression, *bufio.Reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(4)
	if err != nil && err != io.EOF {
		return Uncompressed, br, err
	}
	switch {
	case bytes.HasPrefix(head, gzipMagic):
		return Gzip, br, nil
	case bytes.HasPrefix(head, zstdMagic):
		return Zstd, br, nil
	}
	return Uncompressed, br, nil
}

// Decompress returns a reader of the uncompressed bytes of r, whatever
// compression r carries. Close releases the decompressor, not r.
func Decompress(r io.Reader) (io.ReadCloser, Compression, error) {
	c, br, err := DetectCompression(r)
	if err != nil {
		return nil, c, err
	}
	switch c {
	case Gzip:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, c, fmt.Errorf("gzip: %w", err)
		}
		return zr, c, nil
	case Zstd:
		zr, err := zstd.NewReader(br)
		if err != nil {
			return nil, c, fmt.Errorf("zstd: %w", err)
		}
		return zr.IOReadCloser(), c, nil
	}
	return io.NopCloser(br), c, nil
}

// ReadAhead reads r on a goroutine of its own, up to depth chunks ahead of
// the consumer, so that decompression and extraction use two cores. Close
// stops the goroutine (it also stops when r ends or fails).
func ReadAhead(r io.Reader, chunk, depth int) io.ReadCloser {
	ra := &readAhead{ch: make(chan []byte, depth), stop: make(chan struct{})}
	go func() {
		defer close(ra.ch)
		for {
			buf := make([]byte, chunk)
			n, err := io.ReadFull(r, buf)
			if n > 0 {
				select {
				case ra.ch <- buf[:n]:
				case <-ra.stop:
					return
				}
			}
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return
			}
			if err != nil {
				ra.err = err
				return
			}
		}
	}()
	return ra
}

type readAhead struct {
	ch   chan []byte
	cur  []byte
	err  error // set before ch closes
	stop chan struct{}
	once bool
}

func (ra *readAhead) Read(p []byte) (int, error) {
	for len(ra.cur) == 0 {
		b, ok := <-ra.ch
		if !ok {
			if ra.err != nil {
				return 0, ra.err
			}
			return 0, io.EOF
		}
		ra.cur = b
	}
	n := copy(p, ra.cur)
	ra.cur = ra.cur[n:]
	return n, nil
}

func (ra *readAhead) Close() error {
	if !ra.once {
		ra.once = true
		close(ra.stop)
	}
	return nil
}
