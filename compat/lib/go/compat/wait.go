package compat

import (
	"context"
	"fmt"
	"time"
)

// pollInterval is the back-off of every bounded polling loop.
const pollInterval = 100 * time.Millisecond

// SleepCtx waits d or until ctx ends; used only as the back-off of bounded polling loops.
func SleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Poll calls check until it returns nil, at most attempts times and 100 ms apart: for state the
// broker reaches on its own (a leader elected, a config applied, a commit visible) and that no
// client library announces. It returns nil once check passes, else check's last error, with the
// context's error when the context ended first.
func Poll(ctx context.Context, attempts int, check func() error) error {
	var last error
	for attempt := 0; attempt < attempts; attempt++ {
		if last = check(); last == nil {
			return nil
		}
		if err := SleepCtx(ctx, pollInterval); err != nil {
			return fmt.Errorf("%w (%w)", last, err)
		}
	}
	return last
}

// StrPtr is a pointer to s, for the libraries that take optional config values as *string.
func StrPtr(s string) *string { return &s }
