package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// newClient connects to the broker with the given extra options.
func newClient(e *env, opts ...kgo.Opt) (*kgo.Client, error) {
	base := []kgo.Opt{kgo.SeedBrokers(e.bootstrap), kgo.ClientID("compat-franz-go")}
	return kgo.NewClient(append(base, opts...)...)
}

// withAdmin runs f with an admin client that is closed afterwards.
func withAdmin(e *env, f func(adm *kadm.Client) error) error {
	cl, err := newClient(e)
	if err != nil {
		return err
	}
	defer cl.Close()
	return f(kadm.NewClient(cl))
}

// createTopic creates a topic with replication factor 1 and waits until every partition has a leader.
func createTopic(ctx context.Context, e *env, topic string, partitions int32, configs map[string]*string) error {
	return withAdmin(e, func(adm *kadm.Client) error {
		resp, err := adm.CreateTopic(ctx, partitions, 1, configs, topic)
		if err != nil {
			return fmt.Errorf("create topic %s: %w", topic, err)
		}
		if resp.Err != nil {
			return fmt.Errorf("create topic %s: %w", topic, resp.Err)
		}
		return waitForLeaders(ctx, adm, topic, int(partitions))
	})
}

// waitForLeaders polls metadata until topic has the partition count with a leader each.
func waitForLeaders(ctx context.Context, adm *kadm.Client, topic string, partitions int) error {
	var last string
	for attempt := 0; attempt < 100; attempt++ {
		details, err := adm.ListTopics(ctx, topic)
		if err == nil {
			d := details[topic]
			ready := d.Err == nil && len(d.Partitions) == partitions
			for _, p := range d.Partitions {
				ready = ready && p.Err == nil && p.Leader >= 0
			}
			if ready {
				return nil
			}
			last = fmt.Sprintf("topic error %v, %d partitions", d.Err, len(d.Partitions))
		} else {
			last = err.Error()
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return fmt.Errorf("topic %s not ready (%s): %w", topic, last, err)
		}
	}
	return fmt.Errorf("topic %s not ready: %s", topic, last)
}

// produceSync produces records (all acknowledged) with a producer built from opts.
func produceSync(ctx context.Context, e *env, recs []*kgo.Record, opts ...kgo.Opt) error {
	cl, err := newClient(e, opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	return cl.ProduceSync(ctx, recs...).FirstErr()
}

// consumeN reads n records of topic from the start (no group), failing on fetch errors or timeout.
func consumeN(ctx context.Context, e *env, topic string, n int, opts ...kgo.Opt) ([]*kgo.Record, error) {
	base := []kgo.Opt{
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxBytes(8 << 20),
		kgo.FetchMaxPartitionBytes(4 << 20),
	}
	cl, err := newClient(e, append(base, opts...)...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	return pollN(ctx, cl, n)
}

// pollN polls cl until it has n records; the context bounds the loop.
func pollN(ctx context.Context, cl *kgo.Client, n int) ([]*kgo.Record, error) {
	var recs []*kgo.Record
	for len(recs) < n {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return recs, fmt.Errorf("consumed %d of %d records: %w", len(recs), n, err)
		}
		var ferr error
		fetches.EachError(func(t string, p int32, err error) {
			ferr = fmt.Errorf("fetch %s[%d]: %w", t, p, err)
		})
		if ferr != nil {
			return recs, ferr
		}
		recs = append(recs, fetches.Records()...)
	}
	return recs, nil
}

// sleepCtx waits d or until ctx ends; used only as the back-off of bounded polling loops.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func strPtr(s string) *string { return &s }

// loadExpectedMurmur2 reads compat/expected/murmur2-12.json (key → Java partition of 12).
func loadExpectedMurmur2(e *env) (map[string]int32, error) {
	raw, err := os.ReadFile(filepath.Join(e.compatDir, "expected", "murmur2-12.json"))
	if err != nil {
		return nil, err
	}
	var m map[string]int32
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("murmur2-12.json: %w", err)
	}
	return m, nil
}

// logf writes a progress line to stderr (stdout carries only results).
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "franz-go: "+format+"\n", args...)
}
