// What the three services share: configuration, topic creation, the order format and HTTP.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	ordersTopic = "orders"
	partitions  = 3
	maxAttempts = 3
)

func env(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

func bootstrap() []string { return strings.Split(env("KAFKA_BOOTSTRAP", "127.0.0.1:9092"), ",") }

// newClient makes a franz-go client. Producing is idempotent with acks=all by default in
// franz-go; the options say so for the reader.
func newClient(opts ...kgo.Opt) *kgo.Client {
	opts = append([]kgo.Opt{kgo.SeedBrokers(bootstrap()...), kgo.RequiredAcks(kgo.AllISRAcks())},
		opts...)
	client, err := kgo.NewClient(opts...)
	if err != nil {
		log.Fatalf("kafka client: %v", err)
	}
	return client
}

// ensureTopics creates the topics that are missing: 3 partitions, the broker's replication
// factor (-1). One that exists already, maybe made by another service, is fine.
func ensureTopics(ctx context.Context, client *kgo.Client, topics ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	responses, err := kadm.NewClient(client).CreateTopics(ctx, partitions, -1, nil, topics...)
	if err != nil {
		return err
	}
	for _, r := range responses.Sorted() {
		if r.Err != nil && !errors.Is(r.Err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("creating %s: %w", r.Topic, r.Err)
		}
	}
	return nil
}

type order struct {
	OrderID   string `json:"order_id"`
	SKU       string `json:"sku"`
	Quantity  int64  `json:"quantity"`
	Customer  string `json:"customer"`
	CreatedAt int64  `json:"created_at,omitempty"`
}

// parseOrder reads an order from an event or a request body; the error says why it is
// malformed. Fields are checked by type on a generic map, since encoding/json would accept
// 2.0 or a missing field as an int.
func parseOrder(raw []byte) (order, error) {
	var fields map[string]any
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return order{}, errors.New("not a JSON object")
	}
	var o order
	var ok bool
	if o.OrderID, ok = fields["order_id"].(string); !ok {
		return o, errors.New("order_id is not a string")
	}
	if o.SKU, ok = fields["sku"].(string); !ok {
		return o, errors.New("sku is not a string")
	}
	if o.Customer, ok = fields["customer"].(string); !ok {
		return o, errors.New("customer is not a string")
	}
	q, ok := fields["quantity"].(float64)
	if !ok || q <= 0 || q != float64(int64(q)) {
		return o, errors.New("quantity is not a positive integer")
	}
	o.Quantity = int64(q)
	return o, nil
}

func writeJSON(w http.ResponseWriter, status int, value any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(value)
}

// serveHTTP serves mux on the port named by portVar until ctx is done.
func serveHTTP(ctx context.Context, portVar, fallback string, mux *http.ServeMux) *http.Server {
	port, err := strconv.Atoi(env(portVar, fallback))
	if err != nil {
		log.Fatalf("%s: %v", portVar, err)
	}
	server := &http.Server{Addr: fmt.Sprintf("127.0.0.1:%d", port), Handler: mux}
	go func() {
		if err := server.ListenAndServe(); err != nil && err != http.ErrServerClosed {
			log.Fatalf("http: %v", err)
		}
	}()
	go func() {
		<-ctx.Done()
		server.Close()
	}()
	return server
}
