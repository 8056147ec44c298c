package compat

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
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

// WaitTopicEverywhere waits until every node of the bootstrap list lists topic with a leader for
// each partition (compat/lib/wait-topic, at most 30 s): on a cluster a new topic reaches the other
// nodes a moment after CreateTopics is answered, and a request sent to one of them in that moment
// gets UNKNOWN_TOPIC_OR_PARTITION.
func WaitTopicEverywhere(ctx context.Context, e *Env, topic string, partitions int) error {
	cmd := exec.CommandContext(ctx, filepath.Join(e.CompatDir, "lib", "wait-topic"), "--bootstrap", e.Bootstrap,
		"--topic", topic, "--partitions", strconv.Itoa(partitions))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s (%w)", strings.TrimSpace(string(out)), err)
	}
	return nil
}

// StrPtr is a pointer to s, for the libraries that take optional config values as *string.
func StrPtr(s string) *string { return &s }
