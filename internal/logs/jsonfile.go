package logs

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Entry is one log line as the json-file driver stores it.
type Entry struct {
	Log    string            `json:"log"`
	Stream string            `json:"stream"`
	Attrs  map[string]string `json:"attrs,omitempty"` // json-file's extra attributes (Attributes)
	Time   time.Time         `json:"time"`
}

// Writer appends entries to a json-file log, rotating it when it grows
// past MaxSize into at most MaxFiles files (path, path.1, ...). It is safe
// for concurrent use.
type Writer struct {
	path     string
	maxSize  int64 // 0: never rotate
	maxFiles int
	compress bool
	attrs    map[string]string

	mu          sync.Mutex
	f           *os.File
	size        int64
	buf         bytes.Buffer
	compressing sync.WaitGroup // the last rotation's gzip, in the background
}

// NewWriter opens (appending) the log at path, to rotate and compress as
// c says (its Driver is not looked at).
func NewWriter(path string, c Config) (*Writer, error) {
	maxSize, maxFiles := c.MaxSize, c.MaxFiles
	if maxFiles < 1 {
		maxFiles = 1
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &Writer{path: path, maxSize: maxSize, maxFiles: maxFiles, compress: c.Compress, attrs: c.Attrs, f: f, size: fi.Size()}, nil
}

// Config is a container's log driver and its options, parsed.
type Config struct {
	Driver   string // json-file, local or none
	MaxSize  int64  // 0: never rotate
	MaxFiles int
	Compress bool // gzip rotated files
	// Attrs go with every entry (json-file's labels, env and tag options).
	Attrs map[string]string
}

// Logged reports whether the driver keeps a log (none does not).
func (c Config) Logged() bool { return c.Driver != "none" }

// Drivers names the log drivers a container may use.
func Drivers() []string { return []string{"json-file", "local", "none"} }

// ParseConfig reads a log driver and its --log-opt values as Docker does.
// json-file rotates only with max-size (a max-file without it is accepted
// and changes nothing, as in Docker); local keeps Docker's defaults (20 MB
// files, 5 of them, compressed) and is stored in this package's format;
// none keeps no log.
func ParseConfig(driver string, opts map[string]string) (Config, error) {
	c := Config{Driver: driver, MaxFiles: 1}
	switch driver {
	case "", "json-file":
		c.Driver = "json-file"
	case "local":
		c.MaxSize, c.MaxFiles, c.Compress = 20<<20, 5, true
	case "none":
		return c, nil // Docker takes any option for none
	default:
		return c, fmt.Errorf("logger: no log driver named '%s' is registered", driver)
	}
	for k, v := range opts {
		var err error
		switch k {
		case "max-size":
			if c.MaxSize, err = parseSize(v); err != nil {
				return c, fmt.Errorf("invalid max-size %q: %w", v, err)
			}
		case "max-file":
			if c.MaxFiles, err = strconv.Atoi(v); err != nil || c.MaxFiles < 1 {
				return c, fmt.Errorf("invalid max-file %q: must be a positive integer", v)
			}
		case "compress":
			if c.Compress, err = strconv.ParseBool(v); err != nil {
				return c, fmt.Errorf("invalid compress %q: must be a boolean", v)
			}
		case "labels", "labels-regex", "env", "env-regex", "tag":
			if c.Driver != "json-file" {
				return c, fmt.Errorf("unknown log opt '%s' for %s log driver", k, c.Driver)
			}
			if strings.HasSuffix(k, "-regex") {
				if _, err := regexp.Compile(v); err != nil {
					return c, fmt.Errorf("invalid %s %q: %w", k, v, err)
				}
			}
			if k == "tag" {
				if _, err := tagTemplate(v); err != nil {
					return c, err
				}
			}
		default:
			return c, fmt.Errorf("unknown log opt '%s' for %s log driver", k, c.Driver)
		}
	}
	return c, nil
}

func parseSize(s string) (int64, error) {
	mult := int64(1)
	num := s
	if n := len(s); n > 0 {
		switch s[n-1] {
		case 'k', 'K':
			mult, num = 1<<10, s[:n-1]
		case 'm', 'M':
			mult, num = 1<<20, s[:n-1]
		case 'g', 'G':
			mult, num = 1<<30, s[:n-1]
		}
	}
	v, err := strconv.ParseInt(num, 10, 64)
	if err != nil || v < 0 {
		return 0, errors.New("not a size")
	}
	return v * mult, nil
}

// Write logs one line (which should end in "\n" unless it is a partial
// line) for stream ("stdout" or "stderr") at time t.
func (w *Writer) Write(stream string, line []byte, t time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Reset()
	enc := json.NewEncoder(&w.buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(Entry{Log: string(line), Stream: stream, Attrs: w.attrs, Time: t.UTC()}); err != nil {
		return err
	}
	if w.maxSize > 0 && w.size > 0 && w.size+int64(w.buf.Len()) > w.maxSize {
		if err := w.rotate(); err != nil {
			return err
		}
	}
	n, err := w.f.Write(w.buf.Bytes())
	w.size += int64(n)
	return err
}

func (w *Writer) rotate() error {
	if err := w.f.Close(); err != nil {
		return err
	}
	if w.maxFiles > 1 {
		w.compressing.Wait()
		for i := w.maxFiles - 1; i > 1; i-- {
			for _, ext := range []string{"", ".gz"} {
				_ = os.Rename(fmt.Sprintf("%s.%d%s", w.path, i-1, ext), fmt.Sprintf("%s.%d%s", w.path, i, ext))
			}
		}
		if err := os.Rename(w.path, w.path+".1"); err != nil {
			return err
		}
		if w.compress {
			w.compressing.Add(1)
			go func() {
				defer w.compressing.Done()
				_ = gzipFile(w.path + ".1")
			}()
		}
	}
	f, err := os.OpenFile(w.path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	w.f, w.size = f, 0
	return nil
}

// gzipFile replaces p by p.gz; a reader finds one or the other whole.
// The standard library's gzip, not klauspost's (the map's choice for
// pulls): this runs in every shim, rarely, on small files, and the shim's
// dependencies stay few.
func gzipFile(p string) error {
	in, err := os.Open(p)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := p + ".gz.tmp"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	zw := gzip.NewWriter(out)
	_, err = io.Copy(zw, in)
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, p+".gz")
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Remove(p)
}

// Close closes the log file, once a compression under way has ended.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.compressing.Wait()
	return w.f.Close()
}

// ReadOptions select what Read returns.
type ReadOptions struct {
	Stdout, Stderr bool
	Tail           int // < 0: all
	Since, Until   time.Time
	Follow         bool
	// Stopped reports whether the container has stopped; when following,
	// Read returns once it has and the log is drained. Nil means "running".
	Stopped func() bool
	// Ready, if set, is called once the log can be read, before the first
	// entry (a server sends its headers then).
	Ready func()
}

// Read sends matching entries, oldest first, to fn until the log (all its
// rotated files) is read, or, when following, until ctx ends or the
// container stops and everything written has been sent.
func Read(ctx context.Context, path string, maxFiles int, opts ReadOptions, fn func(Entry) error) error {
	want := func(e Entry) bool {
		if e.Stream == "stdout" && !opts.Stdout || e.Stream == "stderr" && !opts.Stderr {
			return false
		}
		if !opts.Since.IsZero() && e.Time.Before(opts.Since) {
			return false
		}
		if !opts.Until.IsZero() && e.Time.After(opts.Until) {
			return false
		}
		return true
	}
	if opts.Ready != nil {
		opts.Ready()
	}
	// Rotated files first, oldest first.
	var entries []Entry
	for i := maxFiles - 1; i >= 1; i-- {
		f, err := openRotated(fmt.Sprintf("%s.%d", path, i))
		if err != nil {
			continue
		}
		err = decodeAll(f, func(e Entry) error {
			if want(e) {
				entries = append(entries, e)
			}
			return nil
		})
		f.Close()
		if err != nil {
			return err
		}
	}
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	var partial []byte
	readLines := func(emit func(Entry) error) error {
		for {
			line, err := br.ReadBytes('\n')
			if len(line) > 0 {
				if err != nil { // incomplete last line: keep for later
					partial = append(partial, line...)
					return nil
				}
				if len(partial) > 0 {
					line = append(partial, line...)
					partial = nil
				}
				var e Entry
				if json.Unmarshal(line, &e) == nil && want(e) {
					if err := emit(e); err != nil {
						return err
					}
				}
			}
			if err != nil {
				if err == io.EOF {
					return nil
				}
				return err
			}
		}
	}
	if err := readLines(func(e Entry) error { entries = append(entries, e); return nil }); err != nil {
		return err
	}
	if opts.Tail >= 0 && len(entries) > opts.Tail {
		entries = entries[len(entries)-opts.Tail:]
	}
	for _, e := range entries {
		if err := fn(e); err != nil {
			return err
		}
	}
	if !opts.Follow {
		return nil
	}
	ino := inode(f)
	for {
		stopped := opts.Stopped != nil && opts.Stopped()
		if err := readLines(fn); err != nil {
			return err
		}
		if stopped {
			return nil // it was stopped before this last read: nothing more comes
		}
		if cur, err := os.Stat(path); err == nil && inode2(cur) != ino {
			// Rotated: finish the old file, continue with the new one.
			if err := readLines(fn); err != nil {
				return err
			}
			nf, err := os.Open(path)
			if err != nil {
				return err
			}
			f.Close()
			f = nf
			br.Reset(f)
			ino = inode(f)
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// openRotated opens a rotated file, plain or (name.gz) compressed.
func openRotated(name string) (io.ReadCloser, error) {
	if f, err := os.Open(name); err == nil {
		return f, nil
	}
	f, err := os.Open(name + ".gz")
	if err != nil {
		return nil, err
	}
	zr, err := gzip.NewReader(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{zr, f}, nil
}

func decodeAll(r io.Reader, fn func(Entry) error) error {
	dec := json.NewDecoder(r)
	for {
		var e Entry
		if err := dec.Decode(&e); err != nil {
			if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil
			}
			return nil // a torn last line in a rotated file: stop there
		}
		if err := fn(e); err != nil {
			return err
		}
	}
}
