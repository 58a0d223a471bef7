package gvariant

import "bytes"

// DirTree is a dirtree object, (a(say)a(sayay)): the files of a directory
// with their content checksums, and its subdirectories with their dirtree and
// dirmeta checksums, each list sorted by name.
type DirTree struct {
	Files []TreeFile
	Dirs  []TreeDir
}

// TreeFile is one file entry of a dirtree.
type TreeFile struct {
	Name     string
	Checksum []byte
}

// TreeDir is one subdirectory entry of a dirtree.
type TreeDir struct {
	Name string
	Tree []byte
	Meta []byte
}

var (
	dirTreeMembers = []member{{1, 0}, {1, 0}}
	fileMembers    = []member{{1, 0}, {1, 0}}
	dirMembers     = []member{{1, 0}, {1, 0}, {1, 0}}
)

// DecodeDirTree decodes a dirtree object. Names are checked to be strings
// only; what makes a name acceptable in a filesystem is the caller's rule.
func DecodeDirTree(data []byte) (DirTree, error) {
	var t DirTree
	var top [2][]byte
	if err := splitTuple(data, dirTreeMembers, top[:]); err != nil {
		return t, err
	}
	n, _, _, err := arrayHeader(top[0])
	if err != nil {
		return t, err
	}
	t.Files = make([]TreeFile, 0, n)
	var fp [2][]byte
	err = splitArray(top[0], 1, func(_ int, elem []byte) error {
		if err := splitTuple(elem, fileMembers, fp[:]); err != nil {
			return err
		}
		name, err := decodeString(fp[0])
		if err != nil {
			return err
		}
		t.Files = append(t.Files, TreeFile{name, fp[1]})
		return nil
	})
	if err != nil {
		return DirTree{}, err
	}
	if n, _, _, err = arrayHeader(top[1]); err != nil {
		return DirTree{}, err
	}
	t.Dirs = make([]TreeDir, 0, n)
	var dp [3][]byte
	err = splitArray(top[1], 1, func(_ int, elem []byte) error {
		if err := splitTuple(elem, dirMembers, dp[:]); err != nil {
			return err
		}
		name, err := decodeString(dp[0])
		if err != nil {
			return err
		}
		t.Dirs = append(t.Dirs, TreeDir{name, dp[1], dp[2]})
		return nil
	})
	if err != nil {
		return DirTree{}, err
	}
	if !bytes.Equal(EncodeDirTree(t), data) {
		return DirTree{}, invalidf("dirtree not in normal form")
	}
	return t, nil
}

// EncodeDirTree serialises t.
func EncodeDirTree(t DirTree) []byte {
	var e encoder
	var top []int
	start := len(e.buf)
	var offs []int
	for _, f := range t.Files {
		es := len(e.buf)
		e.str(f.Name)
		nameEnd := []int{len(e.buf) - es}
		e.buf = append(e.buf, f.Checksum...)
		e.frame(es, nameEnd, true)
		offs = e.mark(start, offs)
	}
	e.frame(start, offs, false)
	top = e.mark(0, top)
	start, offs = len(e.buf), nil
	for _, d := range t.Dirs {
		es := len(e.buf)
		e.str(d.Name)
		m := []int{len(e.buf) - es}
		e.buf = append(e.buf, d.Tree...)
		m = e.mark(es, m)
		e.buf = append(e.buf, d.Meta...)
		e.frame(es, m, true)
		offs = e.mark(start, offs)
	}
	e.frame(start, offs, false)
	e.frame(0, top, true)
	return e.buf
}
