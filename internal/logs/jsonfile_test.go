package logs

import (
	"context"
	"fmt"
	"path/filepath"
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
	w, err := NewWriter(p, 0, 1)
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
	w, err := NewWriter(p, 200, 3)
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
	w, _ := NewWriter(p, 0, 1)
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

func TestParseOptions(t *testing.T) {
	for _, tc := range []struct {
		opts    map[string]string
		size    int64
		files   int
		wantErr bool
	}{
		{map[string]string{}, 0, 1, false},
		{map[string]string{"max-size": "10k", "max-file": "3"}, 10240, 3, false},
		{map[string]string{"max-size": "1m"}, 1 << 20, 1, false},
		{map[string]string{"max-size": "abc"}, 0, 0, true},
		{map[string]string{"max-file": "0", "max-size": "1k"}, 0, 0, true},
		{map[string]string{"bogus": "1"}, 0, 0, true},
	} {
		s, f, err := ParseOptions(tc.opts)
		if (err != nil) != tc.wantErr || (err == nil && (s != tc.size || f != tc.files)) {
			t.Errorf("%v: got %d %d %v", tc.opts, s, f, err)
		}
	}
}
