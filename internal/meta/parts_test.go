package meta

import (
	"errors"
	"testing"
)

func TestPartsLeftOut(t *testing.T) {
	parts := []Segment{{Blob: "a", Size: 5}, {Blob: "b", Size: 3}}
	for _, c := range []struct {
		segs []Segment
		ok   bool
		left int
	}{
		{[]Segment{{Blob: "a", Size: 5}, {Blob: "b", Size: 3}}, true, 0},
		{[]Segment{{Blob: "b", Size: 3}}, true, 1},
		{[]Segment{{Blob: "c", Size: 1}}, false, 0},                       // not a part
		{[]Segment{{Blob: "a", Size: 4}}, false, 0},                       // wrong size
		{[]Segment{{Blob: "a", Size: 5}, {Blob: "a", Size: 5}}, false, 0}, // twice
	} {
		left, err := PartsLeftOut("u", parts, c.segs)
		if c.ok != (err == nil) || err != nil && !errors.Is(err, ErrInvalidPart) || len(left) != c.left {
			t.Errorf("PartsLeftOut(%v) = %v, %v", c.segs, left, err)
		}
	}
}
