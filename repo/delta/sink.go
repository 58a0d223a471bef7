package delta

import (
	"fmt"
	"io"
	"os"

	"github.com/repofs/repofs/repo"
)

// TxSink writes a part's objects into a transaction, each verified
// against its checksum by the transaction's writes, in the repository's
// own representation (archive repositories get .filez). Read sources come
// from the repository.
type TxSink struct {
	Repo *repo.Repo
	Tx   *repo.Transaction
	// TmpDir takes large read sources of archive repositories, inflated.
	TmpDir string
	// Metadata, when set, is told of every metadata object written.
	Metadata func(o Object, data []byte)
	// Written, when set, is told of every content object staged, and its
	// payload size.
	Written func(o Object, n uint64)
	// Parallel is how many objects are written at once (≤ 1: one at a
	// time, as the part produces them); Metadata and Written must then
	// be safe for concurrent use.
	Parallel int
}

var _ ConcurrentSink = (*TxSink)(nil)

// Workers is Parallel: transactions take concurrent writes.
func (s *TxSink) Workers() int { return s.Parallel }

// Has reports whether the transaction has the object.
func (s *TxSink) Has(o Object) (bool, error) { return s.Tx.HasObject(o.Checksum, o.Type) }

// WriteMetadata stages a metadata object, verified.
func (s *TxSink) WriteMetadata(o Object, data []byte) error {
	if _, err := s.Tx.WriteMetadata(o.Type, data, &o.Checksum); err != nil {
		return err
	}
	if s.Metadata != nil {
		s.Metadata(o, data)
	}
	return nil
}

// WriteContent stages a content object, verified.
func (s *TxSink) WriteContent(o Object, fi *repo.FileInfo, payload io.Reader) error {
	if _, err := s.Tx.WriteContent(fi, payload, &o.Checksum); err != nil {
		return err
	}
	if s.Written != nil {
		s.Written(o, fi.Size)
	}
	return nil
}

// wholeSource is the largest read source read into memory.
const wholeSource = 64 << 20

// OpenSource opens a regular file of the repository. In bare modes it is
// read in place, whole when small, and not verified: what a part builds
// from it is, as it is written (ostree does not verify sources either).
// In archive mode it is read whole and verified when small, else
// inflated (and verified) into a temporary file.
func (s *TxSink) OpenSource(c repo.Checksum) (Source, error) {
	fi, err := s.Repo.StatFile(c)
	if err != nil {
		return nil, err
	}
	if fi.IsSymlink() {
		return nil, fmt.Errorf("content object %s is a symlink, not a file to read", c)
	}
	raw := &rawSource{r: s.Repo, c: c, fi: fi}
	if s.Repo.Mode() != repo.ModeArchive && fi.Size <= wholeSource {
		buf := getBuf(fi.Size)[:fi.Size]
		if err := readAt(raw, buf, 0); err != nil {
			putBuf(buf)
			return nil, fmt.Errorf("read source %s: %w", c, err)
		}
		return &memSource{b: buf, pooled: true}, nil
	}
	if fi.Size <= wholeSource {
		buf := make([]byte, fi.Size)
		if _, err := s.Repo.ReadFileInto(c, buf); err != nil {
			return nil, err
		}
		return &memSource{b: buf}, nil
	}
	if s.Repo.Mode() != repo.ModeArchive {
		return raw, nil
	}
	_, rc, err := s.Repo.OpenFile(c)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	f, err := os.CreateTemp(s.TmpDir, "deltasource-*")
	if err != nil {
		return nil, fmt.Errorf("read source %s: %w", c, err)
	}
	os.Remove(f.Name())
	if _, err := io.Copy(f, rc); err != nil { // verified at EOF
		f.Close()
		return nil, fmt.Errorf("read source %s: %w", c, err)
	}
	return fileSource{f, int64(fi.Size)}, nil
}

// memSource is a read source in memory, which writes copy from directly.
// A pooled one gives its buffer back when closed.
type memSource struct {
	b      []byte
	pooled bool
}

func (m *memSource) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off >= int64(len(m.b)) {
		return 0, io.EOF
	}
	n := copy(p, m.b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
func (m *memSource) Size() int64 { return int64(len(m.b)) }
func (m *memSource) Close() error {
	if m.pooled {
		putBuf(m.b)
	}
	m.b, m.pooled = nil, false
	return nil
}

type fileSource struct {
	*os.File
	size int64
}

func (f fileSource) Size() int64 { return f.size }

// rawSource reads a bare repository's object file in place.
type rawSource struct {
	r  *repo.Repo
	c  repo.Checksum
	fi *repo.FileInfo
}

func (s *rawSource) ReadAt(p []byte, off int64) (int, error) {
	n, err := s.r.ReadRawAt(s.c, s.fi, p, off)
	if err == nil && n < len(p) {
		err = io.EOF
	}
	return n, err
}
func (s *rawSource) Size() int64  { return int64(s.fi.Size) }
func (s *rawSource) Close() error { return nil }
