package logs

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func collect(t *testing.T, path string, maxFiles int, opts ReadOptions) []Entry {
	t.Helper()
	var got []Entry
	if err := Read(context.Background(), path, maxFiles, opts, func(e Entry) error { got = append(got, e); return nil }); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestWriterKeepsStreamsApartAndTails(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c-json.log")
	w, err := NewWriter(p, Config{MaxSize: 0, MaxFiles: 1})
	if err != nil {
		t.Fatal(err)
	}
	base := time.Now()
	for i := 0; i < 5; i++ {
		w.Write("stdout", []byte(fmt.Sprintf("out %d\n", i)), base.Add(time.Duration(i)*time.Second))
		w.Write("stderr", []byte(fmt.Sprintf("err %d\n", i)), base.Add(time.Duration(i)*time.Second))
	}
	w.Close()
	for _, tc := range []struct {
		name  string
		opts  ReadOptions
		want  int
		first string
	}{
		{"all", ReadOptions{Stdout: true, Stderr: true, Tail: -1}, 10, "out 0\n"},
		{"stdout only", ReadOptions{Stdout: true, Tail: -1}, 5, "out 0\n"},
		{"stderr tail 2", ReadOptions{Stderr: true, Tail: 2}, 2, "err 3\n"},
		{"since", ReadOptions{Stdout: true, Tail: -1, Since: base.Add(3 * time.Second)}, 2, "out 3\n"},
		{"until", ReadOptions{Stdout: true, Tail: -1, Until: base.Add(1 * time.Second)}, 2, "out 0\n"},
		{"tail 0", ReadOptions{Stdout: true, Stderr: true, Tail: 0}, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := collect(t, p, 1, tc.opts)
			if len(got) != tc.want {
				t.Fatalf("got %d entries, want %d", len(got), tc.want)
			}
			if tc.want > 0 && got[0].Log != tc.first {
				t.Fatalf("first = %q, want %q", got[0].Log, tc.first)
			}
		})
	}
}

func TestWriterRotatesAndReaderSpansFiles(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c-json.log")
	w, err := NewWriter(p, Config{MaxSize: 200, MaxFiles: 3})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 40; i++ {
		w.Write("stdout", []byte(fmt.Sprintf("line %02d\n", i)), time.Now())
	}
	w.Close()
	got := collect(t, p, 3, ReadOptions{Stdout: true, Tail: -1})
	if len(got) == 0 || len(got) >= 40 {
		t.Fatalf("rotation kept %d lines; want some but not all 40", len(got))
	}
	if got[len(got)-1].Log != "line 39\n" {
		t.Fatalf("last line %q", got[len(got)-1].Log)
	}
	for i := 1; i < len(got); i++ {
		if got[i].Log <= got[i-1].Log {
			t.Fatalf("out of order: %q after %q", got[i].Log, got[i-1].Log)
		}
	}
}

func TestFollowEndsWhenStopped(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c-json.log")
	w, _ := NewWriter(p, Config{MaxSize: 0, MaxFiles: 1})
	var stopped atomic.Bool
	go func() {
		for i := 0; i < 3; i++ {
			time.Sleep(20 * time.Millisecond)
			w.Write("stdout", []byte(fmt.Sprintf("late %d\n", i)), time.Now())
		}
		stopped.Store(true)
	}()
	got := collect(t, p, 1, ReadOptions{Stdout: true, Tail: -1, Follow: true, Stopped: stopped.Load})
	if len(got) != 3 {
		t.Fatalf("follow got %d lines, want 3", len(got))
	}
}

func TestParseConfig(t *testing.T) {
	for _, tc := range []struct {
		driver string
		opts   map[string]string
		want   Config
		err    string
	}{
		{"", map[string]string{}, Config{Driver: "json-file", MaxFiles: 1}, ""},
		{"json-file", map[string]string{"max-size": "10k", "max-file": "3"}, Config{Driver: "json-file", MaxSize: 10240, MaxFiles: 3}, ""},
		{"json-file", map[string]string{"max-size": "1m"}, Config{Driver: "json-file", MaxSize: 1 << 20, MaxFiles: 1}, ""},
		{"json-file", map[string]string{"max-file": "3"}, Config{Driver: "json-file", MaxFiles: 3}, ""}, // accepted, as Docker does
		{"json-file", map[string]string{"compress": "true", "tag": "x"}, Config{Driver: "json-file", MaxFiles: 1, Compress: true}, ""},
		{"json-file", map[string]string{"max-size": "abc"}, Config{}, "invalid max-size"},
		{"json-file", map[string]string{"max-file": "0", "max-size": "1k"}, Config{}, "invalid max-file"},
		{"json-file", map[string]string{"bogus": "1"}, Config{}, "unknown log opt 'bogus' for json-file log driver"},
		{"local", nil, Config{Driver: "local", MaxSize: 20 << 20, MaxFiles: 5, Compress: true}, ""},
		{"local", map[string]string{"max-size": "1k", "compress": "false"}, Config{Driver: "local", MaxSize: 1024, MaxFiles: 5}, ""},
		{"local", map[string]string{"tag": "x"}, Config{}, "unknown log opt 'tag' for local log driver"},
		{"none", map[string]string{"whatever": "1"}, Config{Driver: "none", MaxFiles: 1}, ""},
		{"syslogd", nil, Config{}, "logger: no log driver named 'syslogd' is registered"},
	} {
		got, err := ParseConfig(tc.driver, tc.opts)
		if tc.err != "" {
			if err == nil || !strings.HasPrefix(err.Error(), tc.err) {
				t.Errorf("%s %v: err %v, want %q", tc.driver, tc.opts, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s %v: got %+v %v, want %+v", tc.driver, tc.opts, got, err, tc.want)
		}
	}
}

// TestCompressedRotation: rotated files are gzipped (as the local driver
// and json-file's compress=true do) and Read still returns every line.
func TestCompressedRotation(t *testing.T) {
	p := filepath.Join(t.TempDir(), "container.log")
	w, err := NewWriter(p, Config{MaxSize: 300, MaxFiles: 3, Compress: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 12; i++ {
		if err := w.Write("stdout", []byte(fmt.Sprintf("line %02d\n", i)), time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	gz, _ := filepath.Glob(p + ".*.gz")
	plain, _ := filepath.Glob(p + ".[0-9]")
	if len(gz) != 2 || len(plain) != 0 {
		t.Fatalf("rotated files: gz %v, plain %v", gz, plain)
	}
	var got []string
	if err := Read(context.Background(), p, 3, ReadOptions{Stdout: true, Tail: -1}, func(e Entry) error {
		got = append(got, strings.TrimSpace(e.Log))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// 3 files of at most 300 bytes keep the last lines, in order.
	if len(got) < 6 || got[len(got)-1] != "line 11" {
		t.Fatalf("read back %v", got)
	}
	for i := 1; i < len(got); i++ {
		if got[i] <= got[i-1] {
			t.Fatalf("out of order: %v", got)
		}
	}
}
