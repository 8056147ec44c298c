// Notification service: "sends" each customer one message per order.
package main

import (
	"context"
	"fmt"
	"net/http"
	"sync"
)

type message struct {
	OrderID  string `json:"order_id"`
	Customer string `json:"customer"`
	Text     string `json:"text"`
}

type notifier struct {
	mu      sync.Mutex           // the consumer writes, HTTP handlers read
	sent    map[string][]message // customer -> messages, in the order sent
	handled map[string]bool      // order_ids already notified: a redelivery sends nothing
}

func (n *notifier) handle(o order, attempt int) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.handled[o.OrderID] {
		return nil
	}
	if err := simulateFaults(o, attempt); err != nil {
		return err
	}
	text := fmt.Sprintf("Order %s: %d x %s received", o.OrderID, o.Quantity, o.SKU)
	n.sent[o.Customer] = append(n.sent[o.Customer], message{o.OrderID, o.Customer, text})
	n.handled[o.OrderID] = true
	return nil
}

func runNotification(ctx context.Context) {
	n := &notifier{sent: map[string][]message{}, handled: map[string]bool{}}
	p := newProcessor("notification", n.handle)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /notifications", func(w http.ResponseWriter, r *http.Request) {
		n.mu.Lock()
		defer n.mu.Unlock()
		writeJSON(w, http.StatusOK, append([]message{}, n.sent[r.URL.Query().Get("customer")]...))
	})
	mux.HandleFunc("GET /dlq", p.serveDLQ)
	serveHTTP(ctx, "NOTIFICATION_PORT", "8082", mux)
	p.run(ctx)
}
