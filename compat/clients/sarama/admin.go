package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/IBM/sarama"
)

// topicConfig returns the value of key in the topic's described configs.
func topicConfig(adm sarama.ClusterAdmin, topic, key string) (string, error) {
	entries, err := adm.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: topic})
	if err != nil {
		return "", err
	}
	for _, c := range entries {
		if c.Name == key {
			return c.Value, nil
		}
	}
	return "", fmt.Errorf("%s has no config %s", topic, key)
}

// waitConfig polls until the topic's key reads want: Kafka applies config changes through its
// metadata log, so a describe straight after an alter may still show the old value.
func waitConfig(ctx context.Context, adm sarama.ClusterAdmin, topic, key, want string) error {
	var v string
	var err error
	for attempt := 0; attempt < 100; attempt++ {
		if v, err = topicConfig(adm, topic, key); err == nil && v == want {
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
	if err := createTopic(ctx, e, topic, 2, map[string]*string{"retention.ms": strPtr("3600000")}); err != nil {
		return err
	}
	err := withAdmin(e, func(adm sarama.ClusterAdmin) error {
		if err := waitConfig(ctx, adm, topic, "retention.ms", "3600000"); err != nil {
			return fmt.Errorf("describe config: %w", err)
		}
		md, err := adm.DescribeTopics([]string{topic})
		if err != nil {
			return err
		}
		if len(md) != 1 || !errors.Is(md[0].Err, sarama.ErrNoError) || len(md[0].Partitions) != 2 {
			return fmt.Errorf("describe topic: %+v", md)
		}
		if err := adm.CreatePartitions(topic, 4, nil, false); err != nil {
			return fmt.Errorf("create partitions: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := waitForLeaders(ctx, e, topic, 4); err != nil {
		return fmt.Errorf("after create partitions: %w", err)
	}
	return withAdmin(e, func(adm sarama.ClusterAdmin) error {
		if err := adm.DeleteTopic(topic); err != nil {
			return fmt.Errorf("delete: %w", err)
		}
		for attempt := 0; attempt < 100; attempt++ {
			topics, err := adm.ListTopics()
			if err == nil {
				if _, still := topics[topic]; !still {
					return nil
				}
			}
			if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
				break
			}
		}
		return fmt.Errorf("deleted topic %s still listed", topic)
	})
}

func scenarioAdminConfigs(ctx context.Context, e *env) error {
	topic := e.prefix + "-admin-configs"
	if err := createTopic(ctx, e, topic, 1, nil); err != nil {
		return err
	}
	return withAdmin(e, func(adm sarama.ClusterAdmin) error {
		if _, err := topicConfig(adm, topic, "retention.ms"); err != nil {
			return fmt.Errorf("describe: %w", err)
		}
		value := "123456789"
		entries := map[string]sarama.IncrementalAlterConfigsEntry{
			"retention.ms": {Operation: sarama.IncrementalAlterConfigsOperationSet, Value: &value},
		}
		if err := adm.IncrementalAlterConfig(sarama.TopicResource, topic, entries, false); err != nil {
			return fmt.Errorf("incremental alter: %w", err)
		}
		if err := waitConfig(ctx, adm, topic, "retention.ms", value); err != nil {
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
	if err := produceToPartitions(e, topic, 1, 1, "g"); err != nil {
		return err
	}
	records := make(chan groupRecord, 10)
	m, err := startMember(ctx, e, 0, group, topic, records, commitAll)
	if err != nil {
		return err
	}
	_, err = collect(ctx, records, 1, map[string]int{})
	if err == nil {
		err = waitCommitted(ctx, e, group, topic, 1, 1)
	}
	m.close() // leaves the group, which keeps its committed offset and no member: Empty
	if err != nil {
		return err
	}
	return withAdmin(e, func(adm sarama.ClusterAdmin) error {
		groups, err := adm.ListConsumerGroups()
		if err != nil {
			return fmt.Errorf("list: %w", err)
		}
		if _, ok := groups[group]; !ok {
			return fmt.Errorf("list does not show group %s", group)
		}
		described, err := adm.DescribeConsumerGroups([]string{group})
		if err != nil {
			return fmt.Errorf("describe: %w", err)
		}
		if len(described) != 1 || described[0].State != "Empty" || len(described[0].Members) != 0 {
			return fmt.Errorf("describe: %+v, want one Empty group", described)
		}
		if err := adm.DeleteConsumerGroup(group); err != nil {
			return fmt.Errorf("delete: %w", err)
		}
		groups, err = adm.ListConsumerGroups()
		if err != nil {
			return err
		}
		if _, ok := groups[group]; ok {
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
	if err := produceToPartitions(e, topic, 1, 10, "d"); err != nil {
		return err
	}
	err := withAdmin(e, func(adm sarama.ClusterAdmin) error {
		return adm.DeleteRecords(topic, map[int32]int64{0: 4})
	})
	if err != nil {
		return fmt.Errorf("delete records: %w", err)
	}
	return withClient(e, func(cl sarama.Client) error {
		start, err := cl.GetOffset(topic, 0, sarama.OffsetOldest)
		if err != nil {
			return err
		}
		if start != 4 {
			return fmt.Errorf("start offset after delete is %d, want 4", start)
		}
		return nil
	})
}

func scenarioErrorUnknownTopic(ctx context.Context, e *env) error {
	topic := e.prefix + "-missing"
	err := withClient(e, func(cl sarama.Client) error {
		_, err := cl.Partitions(topic)
		return err
	})
	if !errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
		return fmt.Errorf("metadata for a missing topic: %v, want UNKNOWN_TOPIC_OR_PARTITION", err)
	}
	msg := &sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder("x")}
	err = produceSync(e, []*sarama.ProducerMessage{msg}, func(c *sarama.Config) { c.Producer.Retry.Max = 1 })
	if !errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
		return fmt.Errorf("produce to a missing topic: %v, want UNKNOWN_TOPIC_OR_PARTITION", err)
	}
	return nil
}

func scenarioErrorRecordTooLarge(ctx context.Context, e *env) error {
	topic := e.prefix + "-too-large"
	if err := createTopic(ctx, e, topic, 1, map[string]*string{"max.message.bytes": strPtr("1024")}); err != nil {
		return err
	}
	// Under sarama's own Producer.MaxMessageBytes, so the broker is the one to refuse it.
	msg := &sarama.ProducerMessage{Topic: topic, Value: sarama.ByteEncoder(make([]byte, 4096))}
	err := produceSync(e, []*sarama.ProducerMessage{msg}, nil)
	if !errors.Is(err, sarama.ErrMessageSizeTooLarge) {
		return fmt.Errorf("produce over max.message.bytes: %v, want MESSAGE_TOO_LARGE", err)
	}
	return nil
}

func scenarioErrorInvalidTopicName(ctx context.Context, e *env) error {
	err := withAdmin(e, func(adm sarama.ClusterAdmin) error {
		return adm.CreateTopic("bad name!", &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, false)
	})
	if !errors.Is(err, sarama.ErrInvalidTopic) {
		return fmt.Errorf("create 'bad name!': %v, want INVALID_TOPIC_EXCEPTION", err)
	}
	return nil
}

func scenarioErrorTopicExists(ctx context.Context, e *env) error {
	topic := e.prefix + "-exists"
	if err := createTopic(ctx, e, topic, 1, nil); err != nil {
		return err
	}
	err := withAdmin(e, func(adm sarama.ClusterAdmin) error {
		return adm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, false)
	})
	if !errors.Is(err, sarama.ErrTopicAlreadyExists) {
		return fmt.Errorf("create an existing topic: %v, want TOPIC_ALREADY_EXISTS", err)
	}
	return nil
}
