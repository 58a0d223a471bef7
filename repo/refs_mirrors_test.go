package repo

import "testing"

func TestValidateCollectionID(t *testing.T) {
	for _, tc := range []struct {
		id string
		ok bool
	}{
		{"org.example.Os", true},
		{"com.example_co.My_App", true},
		{"com.example-co.App", false}, // ostree 2022.7 refuses "-" (D-Bus interface name)
		{"a.b", true},
		{"single", false},        // at least two elements
		{"org..example", false},  // empty element
		{".org.example", false},  // empty first element
		{"org.example.", false},  // empty last element
		{"org.1example", false},  // element starting with a digit
		{"org.exa mple", false},  // space
		{"org.example/x", false}, // a path separator
		{"..", false},
		{"", false},
	} {
		if err := ValidateCollectionID(tc.id); (err == nil) != tc.ok {
			t.Errorf("ValidateCollectionID(%q) = %v, want ok=%v", tc.id, err, tc.ok)
		}
	}
}
