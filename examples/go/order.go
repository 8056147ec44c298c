// Order service: POST /orders produces an order event to "orders" and answers once it is acked.
package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func newUUID() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80 // version 4, RFC 4122 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func runOrder(ctx context.Context) {
	client := newClient()
	var ready atomic.Bool

	// produce writes one event and returns once the broker acknowledged it.
	produce := func(w http.ResponseWriter, r *http.Request, key, value []byte) (*kgo.Record, bool) {
		rec := &kgo.Record{Topic: ordersTopic, Key: key, Value: value}
		if err := client.ProduceSync(r.Context(), rec).FirstErr(); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
			return nil, false
		}
		return rec, true
	}

	mux := http.NewServeMux()
	mux.HandleFunc("POST /orders", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var fields map[string]any
		if json.Unmarshal(body, &fields) == nil && fields != nil && fields["order_id"] == nil {
			fields["order_id"] = newUUID()
			body, _ = json.Marshal(fields)
		}
		o, err := parseOrder(body)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		o.CreatedAt = time.Now().UnixMilli()
		value, _ := json.Marshal(o)
		if rec, ok := produce(w, r, []byte(o.OrderID), value); ok {
			writeJSON(w, http.StatusAccepted,
				map[string]any{"order_id": o.OrderID, "partition": rec.Partition, "offset": rec.Offset})
		}
	})
	mux.HandleFunc("POST /raw", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if rec, ok := produce(w, r, nil, body); ok {
			writeJSON(w, http.StatusAccepted, map[string]any{"partition": rec.Partition, "offset": rec.Offset})
		}
	})
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		if ready.Load() {
			writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		} else {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "starting"})
		}
	})
	serveHTTP(ctx, "ORDER_PORT", "8080", mux)

	if err := ensureTopics(ctx, client, ordersTopic); err != nil {
		log.Fatalf("order service: %v", err)
	}
	ready.Store(true)
	log.Print("order service ready")
	<-ctx.Done()
	client.Close() // after flushing what is buffered
	log.Print("order service stopped")
}
