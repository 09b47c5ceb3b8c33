package logs

import (
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkWriterWrite is the shim's cost per logged line.
func BenchmarkWriterWrite(b *testing.B) {
	w, err := NewWriter(filepath.Join(b.TempDir(), "c-json.log"), Config{MaxSize: 10 << 20, MaxFiles: 2})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	line := []byte("2026-11-22T21:00:00Z INFO request served path=/api/v1/items status=200 dur=1.2ms\n")
	now := time.Now()
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		if err := w.Write("stdout", line, now); err != nil {
			b.Fatal(err)
		}
	}
}
