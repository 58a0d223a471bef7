package repo

import "fmt"

// tarBlock is the tar block size.
const tarBlock = 512

// tarEntry is one member of a GNU tar stream.
type tarEntry struct {
	name, link     string
	mode, uid, gid uint32
	size, mtime    int64
	typ            byte // '0' file, '2' symlink, '5' directory
	uname, gname   string
}

// padTo is how many bytes bring n to a multiple of block.
func padTo(n, block int64) int64 { return (block - n%block) % block }

// encode returns the entry's header blocks as libarchive's gnutar writer
// lays them out: a 'K' record for a link target and an 'L' record for a
// name longer than 100 bytes, each a header named "././@LongLink" and the
// string with its NUL, padded; then the header
// proper with the name and target cut to 100 bytes, numbers in octal
// (base-256 when they do not fit), magic "ustar  ".
func (e tarEntry) encode() []byte {
	var out []byte
	if len(e.link) > 100 {
		out = append(out, longRecord('K', e.link, e.link)...)
	}
	if len(e.name) > 100 {
		out = append(out, longRecord('L', e.name, e.link)...)
	}
	return append(out, e.block()...)
}

// longRecord is a 'K' or 'L' record holding s. libarchive fills its link
// field with the entry's (cut) link target whichever it is, and its owner
// names with "root" and "wheel".
func longRecord(typ byte, s, link string) []byte {
	h := tarEntry{name: "././@LongLink", link: link, typ: typ, size: int64(len(s) + 1), uname: "root", gname: "wheel"}
	out := h.block()
	out = append(out, s...)
	out = append(out, 0)
	return append(out, make([]byte, padTo(int64(len(s)+1), tarBlock))...)
}

func (e tarEntry) block() []byte {
	h := make([]byte, tarBlock)
	copy(h[0:100], e.name)
	tarNumber(h[100:108], int64(e.mode&0o7777))
	tarNumber(h[108:116], int64(e.uid))
	tarNumber(h[116:124], int64(e.gid))
	tarNumber(h[124:136], e.size)
	tarNumber(h[136:148], e.mtime)
	copy(h[148:156], "        ")
	h[156] = e.typ
	copy(h[157:257], e.link)
	copy(h[257:265], "ustar  \x00")
	copy(h[265:297], e.uname)
	copy(h[297:329], e.gname)
	sum := 0
	for _, b := range h {
		sum += int(b)
	}
	copy(h[148:156], fmt.Sprintf("%06o\x00 ", sum))
	return h
}

// tarNumber writes n into field as len-1 octal digits and a NUL, or in
// base-256 (high bit set, big-endian) when it does not fit, as libarchive
// does.
func tarNumber(field []byte, n int64) {
	digits := len(field) - 1
	if n >= 0 && n < int64(1)<<(3*digits) {
		copy(field, fmt.Sprintf("%0*o", digits, n))
		field[digits] = 0
		return
	}
	for i := len(field) - 1; i > 0; i-- {
		field[i] = byte(n)
		n >>= 8
	}
	field[0] = 0x80
}
