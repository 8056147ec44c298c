package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// topicConfig returns the value of key in the topic's described configs.
func topicConfig(ctx context.Context, adm *kadm.Client, topic, key string) (string, error) {
	rcs, err := adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		return "", err
	}
	rc, err := rcs.On(topic, nil)
	if err != nil {
		return "", err
	}
	if rc.Err != nil {
		return "", rc.Err
	}
	for _, c := range rc.Configs {
		if c.Key == key {
			return c.MaybeValue(), nil
		}
	}
	return "", fmt.Errorf("%s has no config %s", topic, key)
}

// waitConfig polls until the topic's key reads want: Kafka applies config changes through its
// metadata log, so a describe straight after an alter may still show the old value.
func waitConfig(ctx context.Context, adm *kadm.Client, topic, key, want string) error {
	var v string
	var err error
	for attempt := 0; attempt < 100; attempt++ {
		if v, err = topicConfig(ctx, adm, topic, key); err == nil && v == want {
			return nil
		}
		if sleepCtx(ctx, 100*time.Millisecond) != nil {
			break
		}
	}
	return fmt.Errorf("%s is %q (%v), want %s", key, v, err, want)
}

func scenarioAdminTopics(ctx context.Context, e *env) error {
	topic := e.prefix + "-admin-topics"
	return withAdmin(e, func(adm *kadm.Client) error {
		resp, err := adm.CreateTopic(ctx, 2, 1, map[string]*string{"retention.ms": strPtr("3600000")}, topic)
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			return fmt.Errorf("create: %w", err)
		}
		if err := waitForLeaders(ctx, adm, topic, 2); err != nil {
			return err
		}
		if err := waitConfig(ctx, adm, topic, "retention.ms", "3600000"); err != nil {
			return fmt.Errorf("describe: %w", err)
		}
		listed, err := adm.ListTopics(ctx)
		if err != nil {
			return err
		}
		if !listed.Has(topic) {
			return fmt.Errorf("list does not show %s", topic)
		}
		grown, err := adm.UpdatePartitions(ctx, 4, topic)
		if err == nil {
			_, err = grown.On(topic, nil)
		}
		if err == nil {
			err = grown[topic].Err
		}
		if err != nil {
			return fmt.Errorf("create partitions: %w", err)
		}
		if err := waitForLeaders(ctx, adm, topic, 4); err != nil {
			return fmt.Errorf("after create partitions: %w", err)
		}
		deleted, err := adm.DeleteTopic(ctx, topic)
		if err == nil {
			err = deleted.Err
		}
		if err != nil {
			return fmt.Errorf("delete: %w", err)
		}
		return waitTopicGone(ctx, adm, topic)
	})
}

func waitTopicGone(ctx context.Context, adm *kadm.Client, topic string) error {
	for attempt := 0; attempt < 100; attempt++ {
		listed, err := adm.ListTopics(ctx)
		if err == nil && !listed.Has(topic) {
			return nil
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return fmt.Errorf("deleted topic %s still listed: %w", topic, err)
		}
	}
	return fmt.Errorf("deleted topic %s still listed", topic)
}

func scenarioAdminConfigs(ctx context.Context, e *env) error {
	topic := e.prefix + "-admin-configs"
	if err := createTopic(ctx, e, topic, 1, nil); err != nil {
		return err
	}
	return withAdmin(e, func(adm *kadm.Client) error {
		if _, err := topicConfig(ctx, adm, topic, "retention.ms"); err != nil {
			return fmt.Errorf("describe: %w", err)
		}
		// AlterTopicConfigs is the incremental API (IncrementalAlterConfigs).
		resps, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: strPtr("123456789")}}, topic)
		if err == nil {
			for _, r := range resps {
				if r.Err != nil {
					err = r.Err
				}
			}
		}
		if err != nil {
			return fmt.Errorf("alter: %w", err)
		}
		if err := waitConfig(ctx, adm, topic, "retention.ms", "123456789"); err != nil {
			return fmt.Errorf("after alter: %w", err)
		}
		return nil
	})
}

func scenarioAdminGroups(ctx context.Context, e *env) error {
	topic, group := e.prefix+"-admin-groups", e.prefix+"-admin-groups"
	if err := createTopic(ctx, e, topic, 1, nil); err != nil {
		return err
	}
	if err := produceToPartitions(ctx, e, topic, 1, 1, "g"); err != nil {
		return err
	}
	cl, err := newClient(e, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return err
	}
	recs, err := pollN(ctx, cl, 1)
	if err == nil {
		err = cl.CommitRecords(ctx, recs...)
	}
	cl.Close() // leaves the group, which stays with its committed offset and no member: Empty
	if err != nil {
		return err
	}
	return withAdmin(e, func(adm *kadm.Client) error {
		listed, err := adm.ListGroups(ctx)
		if err != nil {
			return fmt.Errorf("list: %w", err)
		}
		if _, ok := listed[group]; !ok {
			return fmt.Errorf("list does not show group %s", group)
		}
		described, err := adm.DescribeGroups(ctx, group)
		if err != nil {
			return fmt.Errorf("describe: %w", err)
		}
		d := described[group]
		if d.Err != nil || d.State != "Empty" || len(d.Members) != 0 {
			return fmt.Errorf("describe: state %q with %d members (%v), want Empty", d.State, len(d.Members), d.Err)
		}
		deleted, err := adm.DeleteGroup(ctx, group)
		if err == nil {
			err = deleted.Err
		}
		if err != nil {
			return fmt.Errorf("delete: %w", err)
		}
		listed, err = adm.ListGroups(ctx)
		if err != nil {
			return err
		}
		if _, ok := listed[group]; ok {
			return fmt.Errorf("deleted group %s still listed", group)
		}
		return nil
	})
}

func scenarioAdminDeleteRecords(ctx context.Context, e *env) error {
	topic := e.prefix + "-delete-records"
	if err := createTopic(ctx, e, topic, 1, nil); err != nil {
		return err
	}
	if err := produceToPartitions(ctx, e, topic, 1, 10, "d"); err != nil {
		return err
	}
	return withAdmin(e, func(adm *kadm.Client) error {
		var os kadm.Offsets
		os.Add(kadm.Offset{Topic: topic, Partition: 0, At: 4})
		resps, err := adm.DeleteRecords(ctx, os)
		if err != nil {
			return err
		}
		r, ok := resps.Lookup(topic, 0)
		if !ok || r.Err != nil || r.LowWatermark != 4 {
			return fmt.Errorf("delete records: low watermark %d (%v), want 4", r.LowWatermark, r.Err)
		}
		starts, err := adm.ListStartOffsets(ctx, topic)
		if err != nil {
			return err
		}
		s, _ := starts.Lookup(topic, 0)
		if s.Err != nil || s.Offset != 4 {
			return fmt.Errorf("start offset after delete is %d (%v), want 4", s.Offset, s.Err)
		}
		return nil
	})
}

func scenarioErrorUnknownTopic(ctx context.Context, e *env) error {
	topic := e.prefix + "-missing"
	err := withAdmin(e, func(adm *kadm.Client) error {
		md, err := adm.Metadata(ctx, topic)
		if err != nil {
			return err
		}
		if got := md.Topics[topic].Err; !errors.Is(got, kerr.UnknownTopicOrPartition) {
			return fmt.Errorf("metadata for a missing topic: %v, want UNKNOWN_TOPIC_OR_PARTITION", got)
		}
		return nil
	})
	if err != nil {
		return err
	}
	err = produceSync(ctx, e, []*kgo.Record{{Topic: topic, Value: []byte("x")}}, kgo.UnknownTopicRetries(2))
	if !errors.Is(err, kerr.UnknownTopicOrPartition) {
		return fmt.Errorf("produce to a missing topic: %v, want UNKNOWN_TOPIC_OR_PARTITION", err)
	}
	return nil
}

func scenarioErrorRecordTooLarge(ctx context.Context, e *env) error {
	topic := e.prefix + "-too-large"
	if err := createTopic(ctx, e, topic, 1, map[string]*string{"max.message.bytes": strPtr("1024")}); err != nil {
		return err
	}
	// Uncompressed, since franz-go compresses with snappy by default and zeros would shrink.
	err := produceSync(ctx, e, []*kgo.Record{{Topic: topic, Value: make([]byte, 4096)}},
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	if !errors.Is(err, kerr.MessageTooLarge) {
		return fmt.Errorf("produce over max.message.bytes: %v, want MESSAGE_TOO_LARGE", err)
	}
	return nil
}

func scenarioErrorInvalidTopicName(ctx context.Context, e *env) error {
	return withAdmin(e, func(adm *kadm.Client) error {
		resp, err := adm.CreateTopic(ctx, 1, 1, nil, "bad name!")
		if err == nil {
			err = resp.Err
		}
		if !errors.Is(err, kerr.InvalidTopicException) {
			return fmt.Errorf("create 'bad name!': %v, want INVALID_TOPIC_EXCEPTION", err)
		}
		return nil
	})
}

func scenarioErrorTopicExists(ctx context.Context, e *env) error {
	topic := e.prefix + "-exists"
	if err := createTopic(ctx, e, topic, 1, nil); err != nil {
		return err
	}
	return withAdmin(e, func(adm *kadm.Client) error {
		resp, err := adm.CreateTopic(ctx, 1, 1, nil, topic)
		if err == nil {
			err = resp.Err
		}
		if !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("create an existing topic: %v, want TOPIC_ALREADY_EXISTS", err)
		}
		return nil
	})
}
