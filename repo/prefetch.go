package repo

import (
	"golang.org/x/sys/unix"
)

// PrefetchFile asks the kernel to read content object c into the page
// cache, in the background: a hint, which fails silently (then it returns
// nil). Readers that know what they will read next keep the disk busy with
// it meanwhile. The object stays open for the read that follows
// (Prefetched.ReadInto), which then does not look up its path again; a
// caller that does not read it closes it.
func (r *Repo) PrefetchFile(c Checksum) *Prefetched {
	fd, err := unix.Open(r.objectPath(c, ObjFile), unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil
	}
	unix.Fadvise(fd, 0, 0, unix.FADV_WILLNEED)
	return &Prefetched{r: r, c: c, fd: fd}
}

// Prefetched is a content object PrefetchFile opened.
type Prefetched struct {
	r  *Repo
	c  Checksum
	fd int // -1 once read or closed
}

// ReadInto is Repo.ReadFileInto of the prefetched object, through the
// descriptor PrefetchFile opened, which it closes.
func (p *Prefetched) ReadInto(dst []byte) (*FileInfo, error) {
	fd := p.fd
	p.fd = -1
	return p.r.readFileInto(p.c, fd, dst)
}

// Close closes the object if ReadInto did not. It may be called again,
// and on a nil *Prefetched (a prefetch that failed).
func (p *Prefetched) Close() {
	if p != nil && p.fd >= 0 {
		unix.Close(p.fd)
		p.fd = -1
	}
}
