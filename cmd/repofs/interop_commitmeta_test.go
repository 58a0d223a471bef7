package main

import (
	"path/filepath"
	"testing"

	"github.com/repofs/repofs/internal/repotest"
)

// TestInteropCommitAddMetadata commits --add-metadata values in GVariant
// text with both tools: the commits must be the same object.
func TestInteropCommitAddMetadata(t *testing.T) {
	repotest.RequireOstree(t)
	src := t.TempDir()
	repotest.WriteTree(t, src, []repotest.Entry{{Path: "f", Kind: repotest.File, Data: []byte("x\n")}})
	base := filepath.Join(t.TempDir(), "repo")
	repotest.Init(t, base, "archive")
	values := []string{
		`'s'`, `"double \"quoted\""`, `'esc\n\t\u00e9\x'`, `''`,
		`5`, `-5`, `0x1f`, `017`, `2147483647`, `1.5`, `-2e3`, `0.0`,
		`byte 5`, `byte 0xff`, `int16 -3`, `uint16 65535`, `int32 7`, `uint32 5`,
		`int64 -9223372036854775808`, `uint64 18446744073709551615`, `double 3`, `handle 2`,
		`true`, `false`, `boolean true`,
		`objectpath '/org/x'`, `signature 'a{sv}'`, `string 'kw'`,
		`['a', 'b']`, `[1, 2, 3]`, `[1, 2.5]`, `[byte 1, 2]`, `[[1], []]`, `[<1>, <'x'>]`,
		`@as []`, `@a{sv} {}`, `@ay []`, `b'bytes'`, `[@ay [], b'x']`,
		`(1, 'a', true)`, `(1,)`, `()`, `((1, 2), [3])`,
		`{'k': <1>, 'l': <'v'>}`, `{1: 'one', 2: 'two'}`, `{'a', 1}`, `[{'a', 1}, {'b', 2}]`,
		`<5>`, `<<'nested'>>`, `<@as []>`, `<(1, 'x')>`,
		`@ms nothing`, `just 5`, `@mi 5`, `[just 1, nothing]`,
		`  [ 1 ,2 ]  `, `{'version': <'1.0'>, 'n': <uint64 3>}`,
	}
	bad := []string{``, `[`, `'unterminated`, `[1, 'a']`, `byte 256`, `int16 40000`, `uint32 -1`,
		`[]`, `nothing`, `{}`, `1 2`, `@zz 1`, `objectpath 'no'`, `(1`, `byte 1.5`, `just nothing`}
	ts := "--timestamp=2024-06-01T00:00:00Z"
	for _, v := range values {
		a, b := cloneRepo(t, base), cloneRepo(t, base)
		sameWrite(t, a, b, []string{"commit", "-b", "main", ts, "--add-metadata=k=" + v, "--add-metadata-string=s=first", "--tree=dir=" + src},
			[]string{"show", "--print-metadata-key=k", "main"})
	}
	for _, v := range bad {
		a, b := cloneRepo(t, base), cloneRepo(t, base)
		args := []string{"commit", "-b", "main", ts, "--add-metadata=k=" + v, "--tree=dir=" + src}
		want, wantErr, wantCode := repotest.RunOstree(t, append([]string{"--repo=" + a}, args...)...)
		got, gotErr, gotCode := repofs(t, append([]string{"--repo=" + b}, args...)...)
		if got != want || gotCode != 1 || wantCode != 1 {
			t.Errorf("%q: repofs %q %d %q, ostree %q %d %q", v, got, gotCode, gotErr, want, wantCode, wantErr)
		}
	}
}
