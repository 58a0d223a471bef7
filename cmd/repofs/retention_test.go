package main

import (
	"testing"
	"time"
)

func TestRetentionFlags(t *testing.T) {
	for _, tc := range []struct {
		name  string
		f     mountFlags
		pulls bool
		want  retention
		fail  bool
	}{
		{name: "none", pulls: true},
		{name: "keep", f: mountFlags{keep: 3}, pulls: true, want: retention{keep: 3}},
		{name: "days", f: mountFlags{keepAge: "30d"}, pulls: true, want: retention{youngerThan: 30 * 24 * time.Hour}},
		{name: "go duration", f: mountFlags{keep: 1, keepAge: "36h"}, pulls: true, want: retention{keep: 1, youngerThan: 36 * time.Hour}},
		{name: "negative keep", f: mountFlags{keep: -1}, pulls: true, fail: true},
		{name: "bad age", f: mountFlags{keepAge: "soon"}, pulls: true, fail: true},
		{name: "zero age", f: mountFlags{keepAge: "0s"}, pulls: true, fail: true},
		{name: "keep without --pull", f: mountFlags{keep: 3}, fail: true},
	} {
		got, err := tc.f.retention(tc.pulls)
		if (err != nil) != tc.fail || err == nil && got != tc.want {
			t.Errorf("%s: %+v %v, want %+v (fail %v)", tc.name, got, err, tc.want, tc.fail)
		}
	}
}
