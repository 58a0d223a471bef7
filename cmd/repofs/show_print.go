package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/repofs/repofs/repo"
	"github.com/repofs/repofs/repo/gvariant"
)

// commitType is the GVariant type of a commit object.
const commitType = "(a{sv}aya(say)sstayay)"

// commitValue decodes commit c as a generic value, for printing.
func commitValue(r *repo.Repo, c repo.Checksum) (gvariant.Value, error) {
	data, err := r.ReadMetadata(c, repo.ObjCommit)
	if err != nil {
		return gvariant.Value{}, err
	}
	v, err := gvariant.Decode(commitType, data)
	if err != nil {
		return v, fmt.Errorf("commit %s: %w", c, err)
	}
	return v, nil
}

// printVariant prints v as ostree's ot_dump_variant does: byteswapped
// (ostree's numbers are big-endian) unless noSwap, type-annotated.
func printVariant(w io.Writer, v gvariant.Value, noSwap bool) {
	if !noSwap {
		v = gvariant.Byteswap(v)
	}
	fmt.Fprintf(w, "%s\n", gvariant.Print(v, true))
}

// showMetadataKey prints one key of a commit's metadata, or of its
// detached metadata.
func showMetadataKey(w io.Writer, r *repo.Repo, c repo.Checksum, key string, detached, noSwap bool) error {
	var md gvariant.Metadata
	if detached {
		m, err := r.ReadCommitMeta(c)
		if err != nil {
			return err
		}
		if m == nil {
			return fmt.Errorf("No detached metadata for commit %s", c)
		}
		md = m
	} else {
		commit, err := r.ReadCommit(c)
		if err != nil {
			return err
		}
		md = commit.Metadata
	}
	v, ok := md.Lookup(key)
	if !ok {
		return fmt.Errorf("No such metadata key '%s'", key)
	}
	val, err := v.Value()
	if err != nil {
		return fmt.Errorf("commit %s metadata %s: %w", c, key, err)
	}
	printVariant(w, val, noSwap)
	return nil
}

// showRelated prints a commit's related objects, "NAME CHECKSUM" each.
func showRelated(w io.Writer, r *repo.Repo, c repo.Checksum) error {
	v, err := commitValue(r, c)
	if err != nil {
		return err
	}
	for _, rel := range v.Elems[2].Elems {
		fmt.Fprintf(w, "%s %x\n", rel.Elems[0].Str, rel.Elems[1].Bytes)
	}
	return nil
}

// showSizes prints the totals of a commit's ostree.sizes metadata and how
// much of it is not in the repository, as ostree show --print-sizes.
func showSizes(w io.Writer, r *repo.Repo, c repo.Checksum) error {
	commit, err := r.ReadCommit(c)
	if err != nil {
		return fmt.Errorf("Failed to read commit: %w", err)
	}
	sv, ok := commit.Metadata.Lookup("ostree.sizes")
	if !ok || sv.Type != "aay" {
		return errors.New("No metadata key ostree.sizes in commit")
	}
	val, err := sv.Value()
	if err != nil {
		return fmt.Errorf("commit %s ostree.sizes: %w", c, err)
	}
	var archived, unpacked, newArchived, newUnpacked uint64
	var objects, newObjects int
	for _, e := range val.Elems {
		b := e.Bytes
		if len(b) < 34 {
			return errors.New("Could not read ostree.sizes metadata entry")
		}
		oc, _ := repo.ParseChecksum(fmt.Sprintf("%x", b[:32]))
		b = b[32:]
		a, n := binary.Uvarint(b)
		if n <= 0 {
			return errors.New("Unexpected EOF reading ostree.sizes varint")
		}
		b = b[n:]
		u, n := binary.Uvarint(b)
		if n <= 0 {
			return errors.New("Unexpected EOF reading ostree.sizes varint")
		}
		b = b[n:]
		t := repo.ObjFile
		if len(b) > 0 {
			if b[0] < 1 || b[0] > 7 {
				return fmt.Errorf("Unexpected ostree.sizes object type %d", b[0])
			}
			t = repo.ObjectType(b[0])
		}
		archived, unpacked, objects = archived+a, unpacked+u, objects+1
		have, err := r.HasObject(oc, t)
		if err != nil {
			return err
		}
		if !have {
			newArchived, newUnpacked, newObjects = newArchived+a, newUnpacked+u, newObjects+1
		}
	}
	fmt.Fprintf(w, "Compressed size (needed/total): %s/%s\n", repo.FormatSize(newArchived), repo.FormatSize(archived))
	fmt.Fprintf(w, "Unpacked size (needed/total): %s/%s\n", repo.FormatSize(newUnpacked), repo.FormatSize(unpacked))
	fmt.Fprintf(w, "Number of objects (needed/total): %d/%d\n", newObjects, objects)
	return nil
}

// showVariantFile prints the file at path read as a GVariant of type t.
func showVariantFile(w io.Writer, path, t string) error {
	if !gvariant.ValidType(t) {
		return fmt.Errorf("invalid GVariant type string %q", t)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("openat(%s): %w", path, errors.Unwrap(err))
	}
	v, err := gvariant.Decode(t, data)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	printVariant(w, v, false)
	return nil
}
