package diskspace

import "strconv"

// The binary never prints a MinFree; the tests read this back through
// ParseMinFree.

// String shows m as ParseMinFree reads it.
func (m MinFree) String() string {
	switch {
	case !m.Set:
		return "auto"
	case m.Percent > 0:
		return strconv.FormatFloat(m.Percent, 'f', -1, 64) + "%"
	default:
		return strconv.FormatInt(m.Bytes, 10)
	}
}
