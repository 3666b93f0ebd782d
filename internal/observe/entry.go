package observe

import (
	"strconv"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"
)

// Entry is one access log line. Its fields, in this order, are the line's
// keys after slog's time, level and msg ("request").
type Entry struct {
	Time      time.Time
	RequestID string // id: also sent to the client as x-amz-request-id
	Remote    string // remote: the client's address
	Principal string // principal: user name, or "anonymous"
	Token     string // token: the token id, when a token was used (else omitted)
	Protocol  string // protocol: nix or s3
	Operation string // operation: GetObject, Narinfo, …
	Method    string // method
	Bucket    string // bucket (omitted when none)
	Key       string // key (omitted when none)
	Status    int    // status
	BytesIn   int64  // bytes_in: request body bytes read
	BytesOut  int64  // bytes_out: response body bytes written
	Duration  time.Duration
}

// The line is written by hand rather than through a slog.Handler so that
// a request allocates nothing for it; its shape is exactly what
// slog.TextHandler and slog.JSONHandler write for
// log.Info("request", "id", …, …), so the access log reads like the
// server's other lines and log tools parse both alike.

// appendText appends e as slog.TextHandler writes it, with a newline.
func (e *Entry) appendText(b []byte) []byte {
	b = append(b, "time="...)
	b = appendStamp(b, e.Time)
	b = append(b, " level=INFO msg=request"...)
	b = tokenField(b, "id", e.RequestID)
	b = tokenField(b, "remote", e.Remote)
	b = textField(b, "principal", e.Principal)
	if e.Token != "" {
		b = textField(b, "token", e.Token)
	}
	b = tokenField(b, "protocol", e.Protocol)
	b = tokenField(b, "operation", e.Operation)
	b = tokenField(b, "method", e.Method)
	if e.Bucket != "" {
		b = textField(b, "bucket", e.Bucket)
	}
	if e.Key != "" {
		b = textField(b, "key", e.Key)
	}
	b = strconv.AppendInt(append(b, " status="...), int64(e.Status), 10)
	b = strconv.AppendInt(append(b, " bytes_in="...), e.BytesIn, 10)
	b = strconv.AppendInt(append(b, " bytes_out="...), e.BytesOut, 10)
	b = append(append(b, " duration="...), e.Duration.String()...)
	return append(b, '\n')
}

// stamp is the part of a text line's time that changes once a second:
// formatting a time costs more than the rest of a line, and a busy
// server writes thousands of lines a second.
type stamp struct {
	sec          int64
	loc          *time.Location
	prefix, zone []byte // "2006-01-02T15:04:05." and "Z07:00"
}

var lastStamp atomic.Pointer[stamp]

// appendStamp appends t as slog.TextHandler writes a record's time,
// "2006-01-02T15:04:05.000Z07:00".
func appendStamp(b []byte, t time.Time) []byte {
	st := lastStamp.Load()
	if st == nil || st.sec != t.Unix() || st.loc != t.Location() {
		st = &stamp{sec: t.Unix(), loc: t.Location(),
			prefix: t.AppendFormat(nil, "2006-01-02T15:04:05."), zone: t.AppendFormat(nil, "Z07:00")}
		lastStamp.Store(st)
	}
	ms := t.Nanosecond() / 1e6
	b = append(b, st.prefix...)
	b = append(b, byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10))
	return append(b, st.zone...)
}

// tokenField is textField for a value that, when not empty, never needs
// quoting: one the server made (request id, protocol, operation), an HTTP
// method (a token: no space, '=' or '"'), or a remote address (host:port).
// It spares a line the scan of each rune.
func tokenField(b []byte, key, value string) []byte {
	if value == "" {
		return textField(b, key, value)
	}
	b = append(append(append(b, ' '), key...), '=')
	return append(b, value...)
}

// textField appends " key=value", quoting value as slog's text handler
// does when it is empty or holds spaces, quotes, '=' or unprintable runes.
func textField(b []byte, key, value string) []byte {
	b = append(append(append(b, ' '), key...), '=')
	if needsQuoting(value) {
		return strconv.AppendQuote(b, value)
	}
	return append(b, value...)
}

func needsQuoting(s string) bool {
	if s == "" {
		return true
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c <= ' ' || c == '=' || c == '"' || c == 0x7f {
				return true
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return true
		}
		i += size
	}
	return false
}

// appendJSON appends e as slog.JSONHandler writes it, with a newline.
func (e *Entry) appendJSON(b []byte) []byte {
	b = append(b, `{"time":"`...)
	b = e.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":"INFO","msg":"request"`...)
	b = jsonField(b, "id", e.RequestID)
	b = jsonField(b, "remote", e.Remote)
	b = jsonField(b, "principal", e.Principal)
	if e.Token != "" {
		b = jsonField(b, "token", e.Token)
	}
	b = jsonField(b, "protocol", e.Protocol)
	b = jsonField(b, "operation", e.Operation)
	b = jsonField(b, "method", e.Method)
	if e.Bucket != "" {
		b = jsonField(b, "bucket", e.Bucket)
	}
	if e.Key != "" {
		b = jsonField(b, "key", e.Key)
	}
	b = strconv.AppendInt(append(b, `,"status":`...), int64(e.Status), 10)
	b = strconv.AppendInt(append(b, `,"bytes_in":`...), e.BytesIn, 10)
	b = strconv.AppendInt(append(b, `,"bytes_out":`...), e.BytesOut, 10)
	// slog writes a duration in JSON as integer nanoseconds.
	b = strconv.AppendInt(append(b, `,"duration":`...), int64(e.Duration), 10)
	return append(b, "}\n"...)
}

// jsonField appends `,"key":"value"`.
func jsonField(b []byte, key, value string) []byte {
	b = append(append(append(b, `,"`...), key...), `":`...)
	return appendJSONString(b, value)
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string, as encoding/json does
// without HTML escaping: invalid UTF-8 becomes U+FFFD, and U+2028 and
// U+2029 are escaped (JavaScript reads them as line ends).
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= ' ' && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(append(b, s[start:i]...), `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(append(b, s[start:i]...), `\u202`...)
			b = append(b, hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(append(b, s[start:]...), '"')
}
