// Command kafka-go-compat runs the compatibility-matrix scenarios (compat/README.md) with the
// segmentio/kafka-go client against one broker and prints one JSON result line per scenario; the
// table, the output and the expected data come from vltava.dev/compat.
package main

import (
	"context"

	"vltava.dev/compat"
)

// client is kafka-go's implementation of the scenarios (compat.Client).
type client struct{}

// Transactions skips: kafka-go's Writer has no transactional id, begin, commit or abort.
func (client) Transactions(context.Context, *compat.Env) error {
	return compat.Skip("kafka-go has no transactions (its Writer has no transactional producer)")
}

func main() { compat.Main("kafka-go", client{}) }
