// Package fusefs owns the read-only FUSE view of a repository:
//
//	refs/heads/<ref…>                 symlink → ../../commits/<sha>
//	refs/remotes/<remote>/<ref…>      symlink → ../../../commits/<sha>
//	refs/mirrors/<collection>/<ref…>  symlink → ../../../commits/<sha>
//	commits/<sha>/                    the tree of that commit
//
// The view is built from objects/ and refs/ only; nothing under tmp/ is
// ever opened, and a commit marked partial is not shown. commits/ is
// immutable, so the kernel may cache it for long; refs/ is watched with
// inotify and the kernel's entries are invalidated as soon as a ref moves,
// whoever moved it.
package fusefs
