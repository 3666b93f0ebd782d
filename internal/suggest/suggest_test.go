package suggest

import "testing"

func TestNearest(t *testing.T) {
	names := []string{"compression", "compression-level", "endpoint", "profile", "region", "scheme", "PutObject", "GetObject"}
	tests := []struct{ key, want string }{
		{"endpint", "endpoint"},
		{"profil", "profile"},
		{"regoin", "region"},
		{"schema", "scheme"},
		{"x", ""},        // too short to guess
		{"zzzzzzzz", ""}, // nothing near
		{"compressionlevel", "compression-level"},
		{"putobjet", "PutObject"}, // case ignored, the candidate returned as given
		{"GETOBJEKT", "GetObject"},
	}
	for _, tt := range tests {
		if got := Nearest(tt.key, names); got != tt.want {
			t.Errorf("Nearest(%q) = %q, want %q", tt.key, got, tt.want)
		}
	}
}
