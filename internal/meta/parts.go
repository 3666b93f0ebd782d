package meta

import "fmt"

// PartsLeftOut is CompleteUpload's rule for every store: each segment of
// the completed object must be one of the upload's parts, with its size,
// and used at most once, otherwise ErrInvalidPart (wrapped). It returns
// the parts the object leaves out, which become garbage.
func PartsLeftOut(uploadID string, parts, segs []Segment) ([]Segment, error) {
	size := make(map[string]int64, len(parts))
	for _, p := range parts {
		size[p.Blob] = p.Size
	}
	used := make(map[string]bool, len(segs))
	for _, seg := range segs {
		n, ok := size[seg.Blob]
		if !ok || n != seg.Size || used[seg.Blob] {
			return nil, fmt.Errorf("complete upload %q: blob %q (%d bytes) is not a part of it: %w",
				uploadID, seg.Blob, seg.Size, ErrInvalidPart)
		}
		used[seg.Blob] = true
	}
	var left []Segment
	for _, p := range parts {
		if !used[p.Blob] {
			left = append(left, p)
		}
	}
	return left, nil
}
