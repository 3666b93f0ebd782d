package access

import (
	"context"
	"testing"
)

// SetTestHookFill sets testHookFill until the test ends.
func SetTestHookFill(t *testing.T, f func(ctx context.Context, what, name string)) {
	testHookFill = f
	t.Cleanup(func() { testHookFill = nil })
}
