package xzdec

import (
	"os"
	"testing"
)

// BenchmarkDecodePart decodes the xz file XZDEC_BENCH_FILE (a delta part
// without its compression byte, say), against ulikunitz/xz.
//
//	XZDEC_BENCH_FILE=part.xz go test -bench DecodePart ./internal/xzdec/
func BenchmarkDecodePart(b *testing.B) {
	path := os.Getenv("XZDEC_BENCH_FILE")
	if path == "" {
		b.Skip("set XZDEC_BENCH_FILE to an xz file")
	}
	in, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	if len(in) > 0 && in[0] == 'x' {
		in = in[1:]
	}
	for _, bc := range []struct {
		name    string
		workers int
	}{{"xzdec-1", 1}, {"xzdec-n", 0}} {
		b.Run(bc.name, func(b *testing.B) {
			o := opts
			o.Workers = bc.workers
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				if _, err := Decode(in, o); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("ulikunitz", func(b *testing.B) {
		b.SetBytes(int64(len(in)))
		for b.Loop() {
			if _, err := decodeUlikunitz(in); err != nil {
				b.Fatal(err)
			}
		}
	})
}
