package meta

import (
	"slices"
	"testing"
)

func TestMovePin(t *testing.T) {
	tests := []struct {
		old, newest []string
		keep        int
		want        []string
	}{
		{nil, []string{"a"}, 1, []string{"a"}},
		{[]string{"a"}, []string{"b"}, 1, []string{"b"}},
		{[]string{"a"}, []string{"b"}, 2, []string{"b", "a"}},
		{[]string{"b", "a"}, []string{"c"}, 2, []string{"c", "b"}},
		{[]string{"b", "a"}, []string{"a"}, 2, []string{"a", "b"}},
		{[]string{"c", "b", "a"}, []string{"d"}, 1, []string{"d"}},
		{[]string{"a"}, []string{"a"}, 3, []string{"a"}},
	}
	for _, tc := range tests {
		if got := MovePin(tc.old, tc.newest, tc.keep); !slices.Equal(got, tc.want) {
			t.Errorf("MovePin(%v, %v, %d) = %v, want %v", tc.old, tc.newest, tc.keep, got, tc.want)
		}
	}
}
