// Inventory service: reserves stock for each order, or rejects it when there is not enough.
package main

import (
	"context"
	"net/http"
	"strconv"
	"sync"
)

type inventory struct {
	mu           sync.Mutex // the consumer writes, HTTP handlers read
	initialStock int64
	stock        map[string]int64  // sku -> available, once an order touched it
	status       map[string]string // order_id -> "reserved" or "rejected": the handled orders
}

func (inv *inventory) available(sku string) int64 {
	if n, ok := inv.stock[sku]; ok {
		return n
	}
	return inv.initialStock
}

func (inv *inventory) handle(o order, attempt int) error {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	if _, seen := inv.status[o.OrderID]; seen {
		return nil // redelivered: it had its effect already
	}
	if err := simulateFaults(o, attempt); err != nil {
		return err
	}
	if n := inv.available(o.SKU); o.Quantity <= n {
		inv.stock[o.SKU] = n - o.Quantity
		inv.status[o.OrderID] = "reserved"
	} else {
		inv.status[o.OrderID] = "rejected"
	}
	return nil
}

func runInventory(ctx context.Context) {
	initial, _ := strconv.ParseInt(env("INITIAL_STOCK", "10"), 10, 64)
	inv := &inventory{initialStock: initial, stock: map[string]int64{}, status: map[string]string{}}
	p := newProcessor("inventory", inv.handle)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /stock/{sku}", func(w http.ResponseWriter, r *http.Request) {
		inv.mu.Lock()
		defer inv.mu.Unlock()
		sku := r.PathValue("sku")
		writeJSON(w, http.StatusOK, map[string]any{"sku": sku, "available": inv.available(sku)})
	})
	mux.HandleFunc("GET /orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		inv.mu.Lock()
		defer inv.mu.Unlock()
		id := r.PathValue("id")
		if status, ok := inv.status[id]; ok {
			writeJSON(w, http.StatusOK, map[string]string{"order_id": id, "status": status})
		} else {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "order not seen"})
		}
	})
	mux.HandleFunc("GET /dlq", p.serveDLQ)
	serveHTTP(ctx, "INVENTORY_PORT", "8081", mux)
	p.run(ctx)
}
