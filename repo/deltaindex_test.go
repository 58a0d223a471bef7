package repo

import (
	"errors"
	"strings"
	"testing"
)

// TestValidateChecksumString: ostree's messages, the wrong-length one cut
// to 64 bytes with invalid UTF-8 replaced and newlines as spaces.
func TestValidateChecksumString(t *testing.T) {
	good := strings.Repeat("0123456789abcdef", 4)
	for _, tc := range []struct{ in, want string }{
		{good, ""},
		{"", "Invalid rev "},
		{"main", "Invalid rev main"},
		{"a\nb", "Invalid rev a b"},
		{"\xffx", "Invalid rev \uFFFDx"},
		{strings.Repeat("x", 70), "Invalid rev " + strings.Repeat("x", 64)},
		{"\xff\xfex", "Invalid rev \uFFFD\uFFFDx"},
		{strings.ToUpper(good), "Invalid character '65' in rev '" + strings.ToUpper(good) + "'"},
	} {
		err := ValidateChecksumString(tc.in)
		got := ""
		if err != nil {
			got = err.Error()
			if !errors.Is(err, ErrInvalidRev) {
				t.Errorf("%q: %v is not ErrInvalidRev", tc.in, err)
			}
		}
		if got != tc.want {
			t.Errorf("%q: %q, want %q", tc.in, got, tc.want)
		}
	}
}
