package nar

import (
	"io"
	"slices"
	"strconv"
	"strings"
)

// Listing is the JSON listing of a NAR that Nix writes beside it as
// <hash>.ls when a cache has write-nar-listing=1:
//
//	{"version":1,"root":{"type":"directory","entries":{"bin":{…}}}}
//
// The struct tags read any such listing with encoding/json; JSON writes one
// byte for byte as Nix 2.8 does.
type Listing struct {
	Version int   `json:"version"`
	Root    *Node `json:"root"`
}

// Node is one file of a Listing.
type Node struct {
	Type       Type             `json:"type"`
	Size       int64            `json:"size,omitempty"`       // regular files
	Executable bool             `json:"executable,omitempty"` // regular files
	NarOffset  int64            `json:"narOffset,omitempty"`  // regular files: see Header.Offset
	Entries    map[string]*Node `json:"entries,omitempty"`    // directories
	Target     string           `json:"target,omitempty"`     // symlinks
}

// List reads a NAR from r and returns its listing. It reads the whole
// archive, discarding file contents; to list a NAR while it is being
// written elsewhere, feed it through an io.Pipe.
func List(r io.Reader) (*Listing, error) {
	nr := NewReader(r)
	var root *Node
	type dir struct {
		path string
		node *Node
	}
	var dirs []dir
	for {
		h, err := nr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		n := &Node{Type: h.Type}
		switch h.Type {
		case TypeRegular:
			n.Size, n.Executable, n.NarOffset = h.Size, h.Executable, h.Offset
		case TypeSymlink:
			n.Target = h.LinkTarget
		case TypeDirectory:
			n.Entries = map[string]*Node{}
		}
		if h.Path == "/" {
			root = n
		} else {
			i := strings.LastIndexByte(h.Path, '/')
			parent, name := h.Path[:max(i, 1)], h.Path[i+1:]
			for dirs[len(dirs)-1].path != parent { // the Reader guarantees the parent is open
				dirs = dirs[:len(dirs)-1]
			}
			dirs[len(dirs)-1].node.Entries[name] = n
		}
		if h.Type == TypeDirectory {
			dirs = append(dirs, dir{h.Path, n})
		}
	}
	return &Listing{Version: 1, Root: root}, nil
}

// JSON returns the listing exactly as Nix 2.8 writes it: no white space, no
// final newline, keys in the order version, root; type, size, executable
// (only when true), narOffset (only when not zero), entries, target; entries
// sorted by name; and Nix's string escaping, which escapes only '"', '\\'
// and control characters and copies other bytes, even invalid UTF-8, as
// they are. (json.Marshal would escape "<>&" and mangle invalid UTF-8.)
func (l *Listing) JSON() []byte {
	b := make([]byte, 0, 256)
	b = append(b, `{"version":`...)
	b = strconv.AppendInt(b, int64(l.Version), 10)
	b = append(b, `,"root":`...)
	if l.Root == nil {
		b = append(b, "null"...)
	} else {
		b = l.Root.appendJSON(b)
	}
	return append(b, '}')
}

func (n *Node) appendJSON(b []byte) []byte {
	b = append(b, `{"type":`...)
	b = appendString(b, string(n.Type))
	switch n.Type {
	case TypeRegular:
		b = append(b, `,"size":`...)
		b = strconv.AppendInt(b, n.Size, 10)
		if n.Executable {
			b = append(b, `,"executable":true`...)
		}
		if n.NarOffset != 0 {
			b = append(b, `,"narOffset":`...)
			b = strconv.AppendInt(b, n.NarOffset, 10)
		}
	case TypeDirectory:
		b = append(b, `,"entries":{`...)
		names := make([]string, 0, len(n.Entries))
		for name := range n.Entries {
			names = append(names, name)
		}
		slices.Sort(names)
		for i, name := range names {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, name)
			b = append(b, ':')
			b = n.Entries[name].appendJSON(b)
		}
		b = append(b, '}')
	case TypeSymlink:
		b = append(b, `,"target":`...)
		b = appendString(b, n.Target)
	}
	return append(b, '}')
}

// appendString appends s as a JSON string escaped the way Nix 2.8's JSON
// writer does.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
