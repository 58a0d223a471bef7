package repo

import (
	"bytes"
	"fmt"
)

// stageVerified stages content object c whose payload, data, the caller
// has already hashed to c (an import decoding a source object whole):
// WriteContent without a second pass over the bytes. A regular file of a
// bare mode is written with one write, straight from data.
func (tx *Transaction) stageVerified(fi *FileInfo, data []byte, c Checksum) error {
	if err := tx.r.fitsMode(fi, "content object "+c.String()); err != nil {
		return err
	}
	var (
		s   *staged
		err error
	)
	if fi.IsSymlink() || tx.r.mode == ModeArchive {
		s, err = tx.writeRepresentation(fi, bytes.NewReader(data))
	} else {
		s, err = tx.writeWhole(fi, data)
	}
	if err != nil {
		return fmt.Errorf("write content object %s: %w", c, err)
	}
	return tx.place(s, c, ObjFile, false)
}

// writeWhole writes a regular file of a bare mode, its payload data.
func (tx *Transaction) writeWhole(fi *FileInfo, data []byte) (*staged, error) {
	if uint64(len(data)) != fi.Size {
		return nil, fmt.Errorf("%w: payload of %d bytes, expected %d", errPayloadSize, len(data), fi.Size)
	}
	s, err := tx.stage.createObject(fi, tx.r.mode)
	if err != nil {
		return nil, err
	}
	if _, err := s.Write(data); err != nil {
		return nil, tx.discard(s, err)
	}
	if err := s.applyMetadata(fi, tx.r.mode); err != nil {
		return nil, tx.discard(s, err)
	}
	return s, nil
}

// fitsMode reports, as an error naming the object, a content object this
// repository's mode cannot store.
func (r *Repo) fitsMode(fi *FileInfo, name string) error {
	if r.mode == ModeBareUserOnly && (fi.UID != 0 || fi.GID != 0 || len(fi.Xattrs) > 0 || (!fi.IsSymlink() && fi.Mode&^(sIFMT|0775) != 0)) {
		return fmt.Errorf("write %s: not bare-user-only compatible (uid %d, gid %d, mode 0%o, %d xattrs): a bare-user-only repository stores only modes within 0775, owner 0:0 and no xattrs (ostree would drop them and break the checksum); use a bare-user repository", name, fi.UID, fi.GID, fi.Mode, len(fi.Xattrs))
	}
	return nil
}
