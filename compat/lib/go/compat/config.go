package compat

import (
	"context"
	"fmt"
)

// configAttempts bounds WaitConfig: ten seconds of polls.
const configAttempts = 100

// WaitConfig polls describe (one topic config's value) until it reads want: Kafka applies
// config changes through its metadata log, so a describe straight after an alter may still show
// the old value.
func WaitConfig(ctx context.Context, key, want string, describe func() (string, error)) error {
	err := Poll(ctx, configAttempts, func() error {
		v, err := describe()
		if err == nil && v != want {
			err = fmt.Errorf("%s is %q, want %s", key, v, want)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("%s never read %s: %w", key, want, err)
	}
	return nil
}
