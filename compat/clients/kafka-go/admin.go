package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

// topicConfig returns the value of key in the topic's described configs.
func topicConfig(ctx context.Context, e *env, topic, key string) (string, error) {
	resp, err := adminClient(e).DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{
		Resources: []kafka.DescribeConfigRequestResource{{ResourceType: kafka.ResourceTypeTopic, ResourceName: topic}},
	})
	if err != nil {
		return "", err
	}
	for _, r := range resp.Resources {
		if r.Error != nil {
			return "", r.Error
		}
		for _, c := range r.ConfigEntries {
			if c.ConfigName == key {
				return c.ConfigValue, nil
			}
		}
	}
	return "", fmt.Errorf("%s has no config %s", topic, key)
}

// waitConfig polls until the topic's key reads want: Kafka applies config changes through its
// metadata log, so a describe straight after an alter may still show the old value.
func waitConfig(ctx context.Context, e *env, topic, key, want string) error {
	var v string
	var err error
	for attempt := 0; attempt < 100; attempt++ {
		if v, err = topicConfig(ctx, e, topic, key); err == nil && v == want {
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
	if err := createTopic(ctx, e, topic, 2, map[string]string{"retention.ms": "3600000"}); err != nil {
		return err
	}
	if err := waitConfig(ctx, e, topic, "retention.ms", "3600000"); err != nil {
		return fmt.Errorf("describe config: %w", err)
	}
	cl := adminClient(e)
	grown, err := cl.CreatePartitions(ctx, &kafka.CreatePartitionsRequest{Topics: []kafka.TopicPartitionsConfig{{Name: topic, Count: 4}}})
	if err == nil {
		err = grown.Errors[topic]
	}
	if err != nil {
		return fmt.Errorf("create partitions: %w", err)
	}
	if err := waitForLeaders(ctx, e, topic, 4); err != nil {
		return fmt.Errorf("after create partitions: %w", err)
	}
	deleted, err := cl.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{topic}})
	if err == nil {
		err = deleted.Errors[topic]
	}
	if err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	for attempt := 0; attempt < 100; attempt++ {
		t, err := topicMetadata(ctx, e, topic)
		if err == nil && errors.Is(t.Error, kafka.UnknownTopicOrPartition) {
			return nil
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			break
		}
	}
	return fmt.Errorf("deleted topic %s still in metadata", topic)
}

func scenarioAdminConfigs(ctx context.Context, e *env) error {
	topic := e.prefix + "-admin-configs"
	if err := createTopic(ctx, e, topic, 1, nil); err != nil {
		return err
	}
	if _, err := topicConfig(ctx, e, topic, "retention.ms"); err != nil {
		return fmt.Errorf("describe: %w", err)
	}
	resp, err := adminClient(e).IncrementalAlterConfigs(ctx, &kafka.IncrementalAlterConfigsRequest{
		Resources: []kafka.IncrementalAlterConfigsRequestResource{{
			ResourceType: kafka.ResourceTypeTopic, ResourceName: topic,
			Configs: []kafka.IncrementalAlterConfigsRequestConfig{{Name: "retention.ms", Value: "123456789", ConfigOperation: kafka.ConfigOperationSet}},
		}},
	})
	if err == nil {
		for _, r := range resp.Resources {
			if r.Error != nil {
				err = r.Error
			}
		}
	}
	if err != nil {
		return fmt.Errorf("incremental alter: %w", err)
	}
	if err := waitConfig(ctx, e, topic, "retention.ms", "123456789"); err != nil {
		return fmt.Errorf("after alter: %w", err)
	}
	return nil
}

func listedGroup(ctx context.Context, e *env, group string) (bool, error) {
	resp, err := adminClient(e).ListGroups(ctx, &kafka.ListGroupsRequest{})
	if err != nil {
		return false, err
	}
	if resp.Error != nil {
		return false, resp.Error
	}
	for _, g := range resp.Groups {
		if g.GroupID == group {
			return true, nil
		}
	}
	return false, nil
}

func scenarioAdminGroups(ctx context.Context, e *env) error {
	topic, group := e.prefix+"-admin-groups", e.prefix+"-admin-groups"
	if err := createTopic(ctx, e, topic, 1, nil); err != nil {
		return err
	}
	if err := produceToPartitions(ctx, e, topic, 1, 1, "g"); err != nil {
		return err
	}
	records := make(chan groupRecord, 10)
	m := startMember(ctx, e, 0, group, topic, records, commitAll)
	_, err := collect(ctx, records, 1, map[string]int{})
	if err == nil {
		err = waitCommitted(ctx, e, group, topic, 1, 1)
	}
	m.close() // leaves the group, which keeps its committed offset and no member: Empty
	if err != nil {
		return err
	}
	if found, err := listedGroup(ctx, e, group); err != nil || !found {
		return fmt.Errorf("list does not show group %s (%v)", group, err)
	}
	cl := adminClient(e)
	described, err := cl.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
	if err != nil {
		return fmt.Errorf("describe: %w", err)
	}
	if len(described.Groups) != 1 || described.Groups[0].Error != nil || described.Groups[0].GroupState != "Empty" || len(described.Groups[0].Members) != 0 {
		return fmt.Errorf("describe: %+v, want one Empty group", described.Groups)
	}
	deleted, err := cl.DeleteGroups(ctx, &kafka.DeleteGroupsRequest{GroupIDs: []string{group}})
	if err == nil {
		err = deleted.Errors[group]
	}
	if err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	if found, err := listedGroup(ctx, e, group); err != nil || found {
		return fmt.Errorf("deleted group %s still listed (%v)", group, err)
	}
	return nil
}

func scenarioAdminDeleteRecords(context.Context, *env) error {
	return skipError{"kafka-go has no DeleteRecords API"}
}

func scenarioErrorUnknownTopic(ctx context.Context, e *env) error {
	topic := e.prefix + "-missing"
	t, err := topicMetadata(ctx, e, topic)
	if err != nil {
		return err
	}
	if !errors.Is(t.Error, kafka.UnknownTopicOrPartition) {
		return fmt.Errorf("metadata for a missing topic: %v, want UNKNOWN_TOPIC_OR_PARTITION", t.Error)
	}
	err = produceSync(ctx, e, []kafka.Message{{Topic: topic, Value: []byte("x")}}, func(w *kafka.Writer) { w.MaxAttempts = 2 })
	if !errors.Is(err, kafka.UnknownTopicOrPartition) {
		return fmt.Errorf("produce to a missing topic: %v, want UNKNOWN_TOPIC_OR_PARTITION", err)
	}
	return nil
}

func scenarioErrorRecordTooLarge(ctx context.Context, e *env) error {
	topic := e.prefix + "-too-large"
	if err := createTopic(ctx, e, topic, 1, map[string]string{"max.message.bytes": "1024"}); err != nil {
		return err
	}
	// Under the writer's own BatchBytes limit, so the broker is the one to refuse it.
	err := produceSync(ctx, e, []kafka.Message{{Topic: topic, Value: make([]byte, 4096)}}, nil)
	if !errors.Is(err, kafka.MessageSizeTooLarge) {
		return fmt.Errorf("produce over max.message.bytes: %v, want MESSAGE_TOO_LARGE", err)
	}
	return nil
}

func scenarioErrorInvalidTopicName(ctx context.Context, e *env) error {
	err := createTopicOnce(ctx, e, "bad name!", 1, nil)
	if !errors.Is(err, kafka.InvalidTopic) {
		return fmt.Errorf("create 'bad name!': %v, want INVALID_TOPIC_EXCEPTION", err)
	}
	return nil
}

func scenarioErrorTopicExists(ctx context.Context, e *env) error {
	topic := e.prefix + "-exists"
	if err := createTopic(ctx, e, topic, 1, nil); err != nil {
		return err
	}
	if err := createTopicOnce(ctx, e, topic, 1, nil); !errors.Is(err, kafka.TopicAlreadyExists) {
		return fmt.Errorf("create an existing topic: %v, want TOPIC_ALREADY_EXISTS", err)
	}
	return nil
}
