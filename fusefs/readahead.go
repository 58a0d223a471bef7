package fusefs

import (
	"sync/atomic"

	"github.com/hanwen/go-fuse/v2/fs"

	"github.com/repofs/repofs/fusefs/internal/inflatecache"
	"github.com/repofs/repofs/repo"
)

// Read-ahead works on the files a reader goes on to before their READs
// come: a reader that goes through a directory's files one after another
// (cp -r, tar, grep -r) would otherwise wait for each on its own time.
// Each strategy does its own work, the bare one asking the disk for the
// objects (read_bare.go), the archive one inflating them (read_archive.go,
// readahead_archive.go); what both share is here: which files a batch
// takes, where a walk goes next, how far a directory was handed out, and
// which directory a file is read from.

const (
	// smallFile is the size up to which read-ahead takes a file whole:
	// the size up to which the content cache keeps one in memory.
	smallFile = inflatecache.SmallFile

	readAheadBytes = 4 << 20 // small files' bytes handed out per batch
	readAheadFiles = 32
	// readAheadLargeFiles is how many large files a batch takes: two
	// inflate on two cores while their reader reads a third.
	readAheadLargeFiles = 2
)

// chainSteps bounds the directories a batch that ended its directory looks
// through (nextDir) for one with files to read ahead.
const chainSteps = 8

// dirAhead is a directory's read-ahead state.
type dirAhead struct {
	// handed is the index in tree.Files up to which files were handed to
	// read-ahead.
	handed atomic.Int64
	// archive is the archive strategy's own (see readahead_archive.go).
	archive archiveDirAhead
}

// handedOut reports whether every file of d went to read-ahead.
func (d *dirNode) handedOut() bool { return d.ahead.handed.Load() >= int64(len(d.tree.Files)) }

// filePlace is a file's directory and its index among the directory's files.
type filePlace struct {
	dir *dirNode
	idx int
}

// placement is where read-ahead goes on from when a file is read: the
// directory the file was first looked up in, or the one that listed it
// last, once moved there (see claimFiles).
type placement struct {
	first filePlace
	moved atomic.Pointer[filePlace]
}

// place returns where read-ahead goes on from when n is read.
func (n *fileNode) place() (*dirNode, int) {
	if p := n.at.moved.Load(); p != nil {
		return p.dir, p.idx
	}
	return n.at.first.dir, n.at.first.idx
}

type readAheadJob struct {
	c    repo.Checksum
	size int64
	name string
}

// readAheadJobs lists the files of d from index from on that read-ahead
// takes: regular files with a payload whose metadata is cached and that
// are no larger than maxSize, up to maxFiles, readAheadBytes of small
// files and readAheadLargeFiles large ones. It also returns the index
// after the last file looked at.
func readAheadJobs(d *dirNode, from int64, maxFiles int, maxSize int64) ([]readAheadJob, int64) {
	var jobs []readAheadJob
	bytes, large, to := int64(0), 0, from
	for ; to < int64(len(d.tree.Files)) && len(jobs) < maxFiles && bytes < readAheadBytes && large < readAheadLargeFiles; to++ {
		e := d.tree.Files[to]
		fi, ok := d.fs.stats.get(e.Content)
		if !ok || fi.IsSymlink() || fi.Size == 0 || int64(fi.Size) > maxSize {
			continue
		}
		jobs = append(jobs, readAheadJob{e.Content, int64(fi.Size), e.Name})
		if fi.Size > smallFile {
			large++
		} else {
			bytes += int64(fi.Size)
		}
	}
	return jobs, to
}

// nextDir returns the directory a depth-first walk in name order enters
// after d's files, among those the kernel knows, or nil.
func nextDir(d *dirNode) *dirNode {
	if len(d.tree.Dirs) > 0 {
		return childDir(d, d.tree.Dirs[0].Name)
	}
	for cur := d; ; {
		name, p := cur.Parent()
		pd, ok := operations(p)
		if !ok {
			return nil // cur is a commit's root
		}
		if i, ok := findDir(pd.tree.Dirs, name); ok && i+1 < len(pd.tree.Dirs) {
			return childDir(pd, pd.tree.Dirs[i+1].Name)
		}
		cur = pd
	}
}

func childDir(d *dirNode, name string) *dirNode {
	n, _ := operations(d.GetChild(name))
	return n
}

// operations returns the dirNode of inode i, if it is one.
func operations(i *fs.Inode) (*dirNode, bool) {
	if i == nil {
		return nil, false
	}
	d, ok := i.Operations().(*dirNode)
	return d, ok
}
