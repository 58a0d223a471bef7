package repo

import (
	"bufio"
	"io"
	"sync"

	"github.com/klauspost/compress/flate"
)

// Decompressors, compressors and their buffers are large (hundreds of KiB);
// allocating them per object dominated checkouts and pulls of many small
// files, so they are pooled.

var (
	bufReaderPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 64<<10) }}
	inflatePool   sync.Pool // of io.ReadCloser implementing flate.Resetter
	deflatePools  [10]sync.Pool
)

func getBufReader(r io.Reader) *bufio.Reader {
	br := bufReaderPool.Get().(*bufio.Reader)
	br.Reset(r)
	return br
}

func newInflater(br *bufio.Reader) *inflater {
	if fr, ok := inflatePool.Get().(io.ReadCloser); ok {
		if err := fr.(flate.Resetter).Reset(br, nil); err == nil {
			return &inflater{fr: fr, br: br}
		}
	}
	return &inflater{fr: flate.NewReader(br), br: br}
}

// release returns the inflater's state to the pools; z must not be used
// afterwards.
func (z *inflater) release() {
	if z == nil || z.fr == nil {
		return
	}
	inflatePool.Put(z.fr)
	z.br.Reset(nil)
	bufReaderPool.Put(z.br)
	z.fr, z.br = nil, nil
}

func getDeflater(w io.Writer, level int) (*flate.Writer, error) {
	if level < 0 || level > 9 {
		return flate.NewWriter(w, level)
	}
	if zw, ok := deflatePools[level].Get().(*flate.Writer); ok {
		zw.Reset(w)
		return zw, nil
	}
	return flate.NewWriter(w, level)
}

func putDeflater(zw *flate.Writer, level int) {
	if level >= 0 && level <= 9 {
		deflatePools[level].Put(zw)
	}
}
