package s3api

import (
	"encoding/base64"
	"mime"
	"strings"
)

// User metadata (x-amz-meta-*) values travel in HTTP headers, which carry
// US-ASCII safely. As S3 does (user guide, "Working with object metadata",
// user-defined metadata), a value is stored with its RFC 2047 encoded-words
// decoded, and one holding anything but printable US-ASCII goes back
// RFC 2047-encoded, so a raw UTF-8 value sent by one client reaches every
// other one intact rather than as Latin-1 mojibake or bytes a strict HTTP
// parser refuses.

// metaWords decodes encoded-words in the charsets Go knows (UTF-8,
// ISO-8859-1, US-ASCII); a value in another charset is stored as sent.
var metaWords mime.WordDecoder

// decodeUserMeta is a metadata value as S3 stores it: encoded-words decoded.
func decodeUserMeta(v string) string {
	if !strings.Contains(v, "=?") {
		return v
	}
	d, err := metaWords.DecodeHeader(v)
	if err != nil {
		return v
	}
	return d
}

// encodeUserMeta is a stored metadata value as S3 sends it: as is when it
// is printable US-ASCII (tab included), else one UTF-8 "B" encoded-word.
func encodeUserMeta(v string) string {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < ' ' && c != '\t') || c > '~' {
			return "=?UTF-8?B?" + base64.StdEncoding.EncodeToString([]byte(v)) + "?="
		}
	}
	return v
}
