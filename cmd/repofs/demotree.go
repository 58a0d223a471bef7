package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
)

// writeDemoTree fills dir with revision rev of the demo's generated tree:
// about 300 files in nested directories (text, binaries, an executable, a
// symlink). Each revision rewrites a tenth of the files and REVISION, so
// consecutive revisions share most objects, as real updates do.
func writeDemoTree(dir string, rev int) error {
	words := strings.Fields("ostree repository commit dirtree dirmeta content object checksum ref pull mount fuse kernel inode archive bare staging fetcher lock transaction summary")
	write := func(rel string, data []byte, mode os.FileMode) error {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, data, mode); err != nil {
			return err
		}
		return os.Chmod(p, mode)
	}
	text := func(seed uint64, lines int) []byte {
		rng := rand.New(rand.NewPCG(seed, 7))
		var b strings.Builder
		for range lines {
			for j := range 8 + rng.IntN(8) {
				if j > 0 {
					b.WriteByte(' ')
				}
				b.WriteString(words[rng.IntN(len(words))])
			}
			b.WriteByte('\n')
		}
		return []byte(b.String())
	}
	// version picks, per file, the last revision that changed it.
	version := func(i int) int {
		v := rev
		for v > 1 && (i+v)%10 != 0 {
			v--
		}
		return v
	}
	if err := write("REVISION", []byte(fmt.Sprintf("%d\n", rev)), 0o644); err != nil {
		return err
	}
	readme := fmt.Sprintf("This is revision %d of the repofs demo tree.\nEvery file here is served from an OSTree object through FUSE.\n", rev)
	if err := write("docs/README.txt", []byte(readme), 0o644); err != nil {
		return err
	}
	if err := write("bin/hello.sh", []byte(fmt.Sprintf("#!/bin/sh\necho 'hello from revision %d'\n", rev)), 0o755); err != nil {
		return err
	}
	for i := range 240 {
		v := version(i)
		rel := fmt.Sprintf("src/pkg%02d/file%03d.txt", i%12, i)
		if err := write(rel, text(uint64(i*1000+v), 5+i%40), 0o644); err != nil {
			return err
		}
	}
	for i := range 40 {
		v := version(i)
		rng := rand.New(rand.NewPCG(uint64(i*1000+v), 11))
		data := make([]byte, 4<<10+rng.IntN(128<<10))
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		if err := write(fmt.Sprintf("data/blob%02d.bin", i), data, 0o644); err != nil {
			return err
		}
	}
	link := filepath.Join(dir, "latest")
	os.Remove(link)
	return os.Symlink("docs/README.txt", link)
}
