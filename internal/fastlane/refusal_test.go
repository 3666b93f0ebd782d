package fastlane

import "testing"

func TestRefusal(t *testing.T) {
	for _, c := range []struct {
		write  string
		status int
		body   int64
		ok     bool
	}{
		{"HTTP/1.1 431 Request Header Fields Too Large" + refusalHeaders + "431 Request Header Fields Too Large", 431, 35, true},
		{"HTTP/1.1 400 Bad Request: missing required Host header" + refusalHeaders + "400 Bad Request: missing required Host header", 400, 45, true},
		{"HTTP/1.1 505 HTTP Version Not Supported: unsupported protocol version" + refusalHeaders + "505 HTTP Version Not Supported: unsupported protocol version", 505, 60, true},
		{"HTTP/1.1 501 Not Implemented" + refusalHeaders + "Unsupported transfer encoding", 501, 29, true},
		{"HTTP/1.1 417 Expectation Failed\r\nConnection: close\r\nDate: Sun, 06 Dec 2026 12:22:41 GMT\r\nContent-Length: 0\r\n\r\n", 417, 0, true},
		{"HTTP/1.1 417 Expectation Failed\r\nConnection: close\r\nDate: Sun, 06 Dec 2026 12:22:41 GMT\r\nContent-Length: 0\r\nX-Amz-Request-Id: 1\r\n\r\n", 0, 0, false},
		// A handler's answers: headers of its own before or between.
		{"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nX-Amz-Request-Id: 1\r\nConnection: close\r\n\r\nno", 0, 0, false},
		{"HTTP/1.1 400 Bad Request\r\nX-Amz-Request-Id: 1" + refusalHeaders + "no", 0, 0, false},
		{"HTTP/1.1 200 OK" + refusalHeaders + "fine", 0, 0, false},
		{"HTTP/1.1 100 Continue\r\n\r\n", 0, 0, false},
		{"body bytes HTTP/1.1 400 Bad Request" + refusalHeaders, 0, 0, false},
	} {
		status, body, ok := refusal([]byte(c.write))
		if status != c.status || body != c.body || ok != c.ok {
			t.Errorf("refusal(%q) = %d, %d, %v; want %d, %d, %v", c.write, status, body, ok, c.status, c.body, c.ok)
		}
	}
}
