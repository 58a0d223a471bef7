package main

import (
	"path/filepath"
	"testing"

	"github.com/repofs/repofs/internal/repotest"
)

func TestInteropShowLog(t *testing.T) {
	repotest.RequireOstree(t)
	for _, mode := range repotest.Modes {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			f := cliFixture(t, mode)
			// A commit with typed metadata, detached metadata and sizes.
			rich := repotest.Commit(t, f.Repo, "test/rich", cliTree(t), repotest.CommitOpts{
				Subject: "Rich", Body: "no newline at end", Timestamp: "2024-05-01T00:00:00Z",
				Metadata: map[string]string{"version": "3.0"},
				Extra: []string{"--generate-sizes", "--parent=" + f.Refs["test/cli"],
					"--add-metadata=num=uint32 7", "--add-metadata=big=int64 -5", "--add-metadata=list=['a', 'b']",
					"--add-metadata=dict={'k': <1.5>}", "--add-metadata=t=uint64 1234567890123",
					"--add-detached-metadata-string=note=hello",
				}})
			commitObj := filepath.Join(f.Repo, "objects", rich[:2], rich[2:]+".commit")
			cases := []cliCase{
				{"show", "--raw", rich},
				{"show", "--raw", f.Main},
				{"show", "-B", rich},
				{"show", "--raw", "-B", rich},
				{"show", "--print-metadata-key=version", rich},
				{"show", "--print-metadata-key=num", rich},
				{"show", "--print-metadata-key=big", rich},
				{"show", "--print-metadata-key=list", rich},
				{"show", "--print-metadata-key=dict", rich},
				{"show", "--print-metadata-key=t", rich},
				{"show", "-B", "--print-metadata-key=t", rich},
				{"show", "--print-metadata-key=ostree.sizes", rich},
				{"show", "--print-metadata-key=nope", rich},
				{"show", "--print-detached-metadata-key=note", rich},
				{"show", "--print-detached-metadata-key=nope", rich},
				{"show", "--print-detached-metadata-key=note", f.Main},
				{"show", "--print-sizes", rich},
				{"show", "--print-sizes", f.Main},
				{"show", "--print-related", rich},
				{"show", "--print-related", "--print-sizes", rich},
				{"show", "--print-variant-type=(a{sv}aya(say)sstayay)", commitObj},
				{"show", "--print-metadata-key=version", "nope"},
				{"show"},
				{"log", "--raw", "test/rich"},
				{"log", "--raw", f.Main},
				{"log", "test/rich"},
				{"log"},
				{"log", "--raw", "nope"},
			}
			for _, args := range cases {
				sameCLI(t, f.Repo, args...)
			}
		})
	}
}
