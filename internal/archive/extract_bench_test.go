package archive

import (
	"archive/tar"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkExtract unpacks a layer of 200 small files and 20 directories.
func BenchmarkExtract(b *testing.B) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	body := bytes.Repeat([]byte("x"), 4096)
	for d := 0; d < 20; d++ {
		tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("d%d/", d), Typeflag: tar.TypeDir, Mode: 0o755})
		for f := 0; f < 10; f++ {
			tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("d%d/f%d", d, f), Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))})
			tw.Write(body)
		}
	}
	tw.Close()
	layer := buf.Bytes()
	base := b.TempDir()
	b.SetBytes(int64(len(layer)))
	i := 0
	for b.Loop() {
		root := filepath.Join(base, fmt.Sprint(i))
		i++
		os.Mkdir(root, 0o755)
		if _, err := Extract(bytes.NewReader(layer), root, Options{NoLchown: true}); err != nil {
			b.Fatal(err)
		}
	}
}
