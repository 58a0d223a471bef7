package delta

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/ulikunitz/xz"
	"golang.org/x/sys/unix"

	"github.com/repofs/repofs/repo"
	"github.com/repofs/repofs/repo/gvariant"
)

// Part is a decoded part payload.
type Part struct {
	Modes  []Mode
	Xattrs [][]repo.Xattr
	// Blob is the data the bytecode reads; Ops the bytecode.
	Blob, Ops []byte
	unmap     []byte // the mapping to release, when spilled to a file
}

// Mode is a content object's owner and mode, as a part lists them.
type Mode struct{ UID, GID, Mode uint32 }

// Close releases the part's memory mapping, if it has one; its Blob and
// Ops are then gone.
func (p *Part) Close() error {
	if p.unmap == nil {
		return nil
	}
	err := unix.Munmap(p.unmap)
	p.unmap, p.Blob, p.Ops = nil, nil, nil
	return err
}

// VerifyPart checks a part file against its header: exactly h.Size bytes
// hashing to h.Checksum. A mismatch is ErrInvalid.
func VerifyPart(r io.Reader, h *PartHeader) error {
	hash := sha256.New()
	n, err := io.Copy(hash, io.LimitReader(r, int64(min(h.Size, math.MaxInt64-1))+1))
	if err != nil {
		return err
	}
	if uint64(n) != h.Size {
		return invalidf("part of %d bytes, its header says %d", n, h.Size)
	}
	var got repo.Checksum
	hash.Sum(got[:0])
	if got != h.Checksum {
		return invalidf("part checksum expected='%s' actual='%s'", h.Checksum, got)
	}
	return nil
}

// memLimit is the largest payload kept in memory; larger ones go to a file
// in the spill directory, mapped.
var memLimit = 64 << 20

// Limit is the most bytes the payload of a part with header h may
// decompress to: twice what it declares it produces (a bsdiff patch may be
// a little larger than its result), plus room for the tables and the
// bytecode.
func Limit(h *PartHeader) uint64 {
	const maxLimit = 1 << 40
	if h.USize > maxLimit/4 {
		return maxLimit
	}
	return min(2*h.USize+1<<20+uint64(len(h.Objects))*256, maxLimit)
}

// ReadPart decompresses and decodes a part file (checked with VerifyPart
// first, or trusted), of at most limit bytes decompressed. Payloads over
// 64 MiB are written to a temporary file in spillDir and mapped.
func ReadPart(r io.Reader, limit uint64, spillDir string) (*Part, error) {
	var comp [1]byte
	if _, err := io.ReadFull(r, comp[:]); err != nil {
		return nil, invalidf("part without a compression byte: %v", err)
	}
	var src io.Reader
	switch comp[0] {
	case 0:
		src = r
	case 'x':
		// The decoder reads its input a byte at a time: unbuffered, a
		// part file costs a read(2) per compressed byte.
		xr, err := xz.NewReader(newXZGuard(bufio.NewReaderSize(r, 64<<10), MaxDictSize))
		if err != nil {
			return nil, invalidf("part: xz: %v", err)
		}
		src = xr
	default:
		return nil, invalidf("part compression type %d", comp[0])
	}
	data, unmap, err := readBounded(src, limit, spillDir)
	if err != nil {
		return nil, err
	}
	p, err := decodePayload(data)
	if err != nil {
		if unmap != nil {
			unix.Munmap(unmap)
		}
		return nil, err
	}
	p.unmap = unmap
	return p, nil
}

// DecodePart decodes a whole part file held in memory (an inline part).
func DecodePart(file []byte, limit uint64) (*Part, error) {
	return DecodePartSpill(file, limit, "")
}

// DecodePartSpill decodes a whole part file held in memory, as ReadPart
// does; an xz stream of several blocks decodes on every core.
func DecodePartSpill(file []byte, limit uint64, spillDir string) (*Part, error) {
	if len(file) > 0 && file[0] == 'x' {
		data, ok, err := decodeXZ(file[1:], limit)
		if err != nil {
			return nil, err
		}
		if ok {
			return decodePayload(data)
		}
	}
	return ReadPart(bytes.NewReader(file), limit, spillDir)
}

// readBounded reads r to its end, at most limit bytes: into memory up to
// memLimit, beyond into a mapped temporary file in spillDir.
func readBounded(r io.Reader, limit uint64, spillDir string) (data, unmap []byte, err error) {
	lim := int64(min(limit, math.MaxInt64-1))
	var buf bytes.Buffer
	// About what the header declares (Limit doubles it): grown by
	// doubling instead, the buffer was copied over and over and held up
	// to twice the payload.
	buf.Grow(int(min(lim/2, int64(memLimit))) + bytes.MinRead)
	n, err := io.Copy(&buf, io.LimitReader(r, min(lim, int64(memLimit))+1))
	if errors.Is(err, ErrDictTooLarge) {
		return nil, nil, err
	}
	if err != nil {
		return nil, nil, invalidf("part payload: %v", err)
	}
	if n <= int64(memLimit) && n <= lim {
		return buf.Bytes(), nil, nil
	}
	if n > lim || spillDir == "" {
		return nil, nil, invalidf("part payload over %d bytes", min(lim, int64(memLimit)))
	}
	f, err := os.CreateTemp(spillDir, "deltapart-*")
	if err != nil {
		return nil, nil, fmt.Errorf("spill delta part: %w", err)
	}
	os.Remove(f.Name())
	defer f.Close()
	if _, err := f.Write(buf.Bytes()); err != nil {
		return nil, nil, fmt.Errorf("spill delta part: %w", err)
	}
	buf = bytes.Buffer{}
	m, err := io.Copy(f, io.LimitReader(r, lim-n+1))
	if errors.Is(err, ErrDictTooLarge) {
		return nil, nil, err
	}
	if err != nil {
		var ie *os.PathError
		if errors.As(err, &ie) {
			return nil, nil, fmt.Errorf("spill delta part: %w", err)
		}
		return nil, nil, invalidf("part payload: %v", err)
	}
	if n+m > lim {
		return nil, nil, invalidf("part payload over %d bytes", lim)
	}
	mem, err := unix.Mmap(int(f.Fd()), 0, int(n+m), unix.PROT_READ, unix.MAP_PRIVATE)
	if err != nil {
		return nil, nil, fmt.Errorf("map delta part: %w", err)
	}
	return mem, mem, nil
}

// decodePayload splits (a(uuu)aa(ayay)ayay): three framing offsets at the
// end, for the first three members.
func decodePayload(data []byte) (*Part, error) {
	n := len(data)
	w := offsetSize(n)
	if n < 3*w {
		return nil, invalidf("part payload of %d bytes", n)
	}
	end := n - 3*w
	off := func(i int) int { // framing offset of member i
		var v uint64
		b := data[n-(i+1)*w : n-i*w]
		for j := len(b) - 1; j >= 0; j-- {
			v = v<<8 | uint64(b[j])
		}
		return int(min(v, uint64(n)+1))
	}
	e0, e1, e2 := off(0), off(1), off(2)
	if e0 > e1 || e1 > e2 || e2 > end {
		return nil, invalidf("part payload framing %d, %d, %d in %d bytes", e0, e1, e2, end)
	}
	p := &Part{Blob: data[e1:e2], Ops: data[e2:end]}
	modes := data[:e0]
	if len(modes)%12 != 0 {
		return nil, invalidf("part mode table of %d bytes", len(modes))
	}
	for i := 0; i < len(modes); i += 12 {
		p.Modes = append(p.Modes, Mode{
			UID:  binary.BigEndian.Uint32(modes[i:]),
			GID:  binary.BigEndian.Uint32(modes[i+4:]),
			Mode: binary.BigEndian.Uint32(modes[i+8:]),
		})
	}
	xv, err := gvariant.Decode("aa(ayay)", data[e0:e1])
	if err != nil {
		return nil, invalidf("part xattr table: %v", err)
	}
	for i, list := range xv.Elems {
		var xs []repo.Xattr
		for _, x := range list.Elems {
			name := x.Elems[0].Bytes
			if len(name) < 2 || name[len(name)-1] != 0 || bytes.IndexByte(name[:len(name)-1], 0) >= 0 {
				return nil, invalidf("part xattr list %d: bad name %q", i, name)
			}
			xs = append(xs, repo.Xattr{Name: string(name[:len(name)-1]), Value: x.Elems[1].Bytes})
		}
		p.Xattrs = append(p.Xattrs, xs)
	}
	return p, nil
}

// offsetSize is the size of GVariant framing offsets in a container of n
// bytes.
func offsetSize(n int) int {
	switch {
	case n == 0:
		return 0
	case n <= math.MaxUint8:
		return 1
	case n <= math.MaxUint16:
		return 2
	case uint64(n) <= math.MaxUint32:
		return 4
	}
	return 8
}
