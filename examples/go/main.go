// The shop's three services in one binary: shop order|inventory|notification.
package main

import (
	"context"
	"log"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) != 2 {
		log.Fatal("usage: shop order|inventory|notification")
	}
	// SIGTERM or Ctrl-C cancels ctx; each service then finishes its record, commits and leaves.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	switch os.Args[1] {
	case "order":
		runOrder(ctx)
	case "inventory":
		runInventory(ctx)
	case "notification":
		runNotification(ctx)
	default:
		log.Fatalf("unknown service %q", os.Args[1])
	}
}
