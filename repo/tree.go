package repo

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// ErrNotDir means a path component that must be a directory is not one.
var ErrNotDir = errors.New("Not a directory")

// ErrLoop means a path has too many levels of symbolic links.
var ErrLoop = errors.New("Too many levels of symbolic links")

// maxSymlinkHops bounds symlink resolution, as the kernel's MAXSYMLINKS does.
const maxSymlinkHops = 40

// Node is a directory or file inside a commit.
type Node struct {
	Path    string // absolute within the commit, "/" for the root
	IsDir   bool
	Tree    Checksum // directories
	Meta    Checksum // directories
	Content Checksum // files and symlinks
}

// Name returns the last element of the node's path.
func (n Node) Name() string {
	if n.Path == "/" {
		return "/"
	}
	return n.Path[strings.LastIndexByte(n.Path, '/')+1:]
}

// RootNode returns the root directory of a commit.
func RootNode(c *Commit) Node {
	return Node{Path: "/", IsDir: true, Tree: c.RootTree, Meta: c.RootMeta}
}

// Child returns the node of the named entry of a directory tree.
func child(parent Node, t *DirTree, name string) (Node, bool) {
	p := joinPath(parent.Path, name)
	if i := sort.Search(len(t.Files), func(i int) bool { return t.Files[i].Name >= name }); i < len(t.Files) && t.Files[i].Name == name {
		return Node{Path: p, Content: t.Files[i].Content}, true
	}
	if i := sort.Search(len(t.Dirs), func(i int) bool { return t.Dirs[i].Name >= name }); i < len(t.Dirs) && t.Dirs[i].Name == name {
		return Node{Path: p, IsDir: true, Tree: t.Dirs[i].Tree, Meta: t.Dirs[i].Meta}, true
	}
	return Node{}, false
}

func joinPath(dir, name string) string {
	if dir == "/" {
		return "/" + name
	}
	return dir + "/" + name
}

// Lookup finds path below root without following symlinks.
func (r *Repo) Lookup(root Node, path string) (Node, error) {
	return r.walk(root, path, false)
}

// Resolve finds path below root following symlinks, which resolve inside the
// commit only: absolute targets start at root and ".." stops at root.
func (r *Repo) Resolve(root Node, path string) (Node, error) {
	return r.walk(root, path, true)
}

func (r *Repo) walk(root Node, path string, follow bool) (Node, error) {
	stack := []Node{root} // the directories from root to the current one
	comps := splitPath(path)
	hops := 0
	for len(comps) > 0 {
		name := comps[0]
		comps = comps[1:]
		cur := stack[len(stack)-1]
		switch name {
		case ".":
			continue
		case "..":
			if len(stack) > 1 {
				stack = stack[:len(stack)-1]
			}
			continue
		}
		if !cur.IsDir {
			return Node{}, ErrNotDir
		}
		t, err := r.ReadDirTree(cur.Tree)
		if err != nil {
			return Node{}, err
		}
		n, ok := child(cur, t, name)
		if !ok {
			return Node{}, ErrNotFound
		}
		if !n.IsDir && follow {
			fi, err := r.StatFile(n.Content)
			if err != nil {
				return Node{}, err
			}
			if fi.IsSymlink() {
				if hops++; hops > maxSymlinkHops {
					return Node{}, ErrLoop
				}
				target := splitPath(fi.Target)
				if strings.HasPrefix(fi.Target, "/") {
					stack = stack[:1]
				}
				comps = append(target, comps...)
				continue
			}
		}
		stack = append(stack, n)
	}
	return stack[len(stack)-1], nil
}

func splitPath(p string) []string {
	var out []string
	for _, c := range strings.Split(p, "/") {
		if c != "" {
			out = append(out, c)
		}
	}
	return out
}

// ReadDir returns a directory node's tree.
func (r *Repo) ReadDir(n Node) (*DirTree, error) {
	if !n.IsDir {
		return nil, fmt.Errorf("%s: %w", n.Path, ErrNotDir)
	}
	return r.ReadDirTree(n.Tree)
}

// Children returns the file nodes then the directory nodes of a directory,
// each sorted by name, as ostree lists them.
func Children(dir Node, t *DirTree) (files, dirs []Node) {
	files = make([]Node, len(t.Files))
	for i, f := range t.Files {
		files[i] = Node{Path: joinPath(dir.Path, f.Name), Content: f.Content}
	}
	dirs = make([]Node, len(t.Dirs))
	for i, d := range t.Dirs {
		dirs[i] = Node{Path: joinPath(dir.Path, d.Name), IsDir: true, Tree: d.Tree, Meta: d.Meta}
	}
	return files, dirs
}
