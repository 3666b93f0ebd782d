package target

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/nixbucket/nixbucket/internal/client/storeurl"
)

// TestS3Head400ExplainedOnlyBy400: a HEAD of the bucket answered 400 (no
// body to say why) is asked again with GetBucketLocation, whose own 400
// explains it; an AccessDenied of the GET (a key without
// s3:GetBucketLocation) is about the GET and must not be reported as the
// reason the HEAD failed.
func TestS3Head400ExplainedOnlyBy400(t *testing.T) {
	testKeys(t)
	for _, tt := range []struct {
		status int
		code   string
		want   bool // the GET's code is in the error
	}{
		{http.StatusForbidden, "AccessDenied", false},
		{http.StatusBadRequest, "AuthorizationHeaderMalformed", true},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodHead {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(tt.status)
			w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>` + tt.code + `</Code><Message>no</Message></Error>`))
		}))
		store, err := storeurl.Parse("s3://bkt?region=us-east-1&endpoint=" + srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		tg, err := Open(context.Background(), store, Options{})
		if err == nil {
			tg.Close()
			t.Fatalf("%s: Open succeeded after a HEAD's 400", tt.code)
		}
		if got := strings.Contains(err.Error(), "GetBucketLocation"); got != tt.want {
			t.Errorf("GET's %d %s: error %q; want it named: %v", tt.status, tt.code, err, tt.want)
		}
		srv.Close()
	}
}
