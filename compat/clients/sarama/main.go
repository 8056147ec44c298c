// Command sarama-compat runs the compatibility-matrix scenarios (compat/README.md) with the
// IBM/sarama client against one broker and prints one JSON result line per scenario; the table,
// the output and the expected data come from vltava.dev/compat.
package main

import (
	"log"
	"os"

	"github.com/IBM/sarama"
	"vltava.dev/compat"
)

// client is sarama's implementation of the scenarios (compat.Client).
type client struct{}

func main() {
	if os.Getenv("COMPAT_DEBUG") != "" {
		sarama.Logger = log.New(os.Stderr, "[sarama] ", log.LstdFlags)
	}
	compat.Main("sarama", client{})
}
