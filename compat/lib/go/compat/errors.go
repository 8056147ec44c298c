package compat

import (
	"errors"
	"fmt"
)

// InvalidTopicName is the name error_invalid_topic_name tries to create.
const InvalidTopicName = "bad name!"

// The Kafka error names the error scenarios expect, as the failure details say them.
const (
	UnknownTopicOrPartition = "UNKNOWN_TOPIC_OR_PARTITION"
	MessageTooLarge         = "MESSAGE_TOO_LARGE"
	InvalidTopicException   = "INVALID_TOPIC_EXCEPTION"
	TopicAlreadyExists      = "TOPIC_ALREADY_EXISTS"
)

// WantError is nil when got is (or wraps) want, the library's value of the Kafka error named
// code; otherwise it is the failure: what doing gave instead.
func WantError(got, want error, doing, code string) error {
	if errors.Is(got, want) {
		return nil
	}
	return fmt.Errorf("%s: %v, want %s", doing, got, code)
}
