// Command franz-go-compat runs the compatibility-matrix scenarios (compat/README.md) with the
// twmb/franz-go client against one broker and prints one JSON result line per scenario; the
// table, the output and the expected data come from vltava.dev/compat.
package main

import "vltava.dev/compat"

// client is franz-go's implementation of the scenarios (compat.Client).
type client struct{}

func main() { compat.Main("franz-go", client{}) }
