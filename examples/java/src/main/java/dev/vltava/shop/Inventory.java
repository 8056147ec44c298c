package dev.vltava.shop;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.context.annotation.Profile;
import org.springframework.http.HttpStatus;
import org.springframework.http.ResponseEntity;
import org.springframework.kafka.annotation.KafkaListener;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.RestController;

/**
 * The inventory service: reserves stock for each order, or rejects it when there is not enough.
 * Its state is kept in memory (an example, not a database): a restarted service has full stock.
 */
@RestController
@Profile("inventory")
public class Inventory {
    public record Stock(String sku, long available) {}

    public record Status(String orderId, String status) {}

    private final Attempts attempts;
    private final long initialStock;
    private final Map<String, Long> stock = new HashMap<>();
    /** Every order handled, reserved or rejected: the memory that makes handling idempotent. */
    private final Map<String, String> statuses = new HashMap<>();

    Inventory(Attempts attempts, @Value("${shop.initial-stock}") long initialStock) {
        this.attempts = attempts;
        this.initialStock = initialStock;
    }

    /** The listener's id is the consumer group. Its container commits after each record. */
    @KafkaListener(id = "inventory", topics = {Topics.ORDERS, "orders.inventory.retry"})
    void onOrder(ConsumerRecord<String, byte[]> record) throws Exception {
        attempts.attempt("inventory", record, this::reserve);
    }

    /** Applies an order once: a redelivered event finds its order_id handled. */
    synchronized void reserve(Order order) {
        if (statuses.containsKey(order.orderId())) {
            return;
        }
        long available = available(order.sku());
        if (order.quantity() <= available) {
            stock.put(order.sku(), available - order.quantity());
            statuses.put(order.orderId(), "reserved");
        } else {
            statuses.put(order.orderId(), "rejected");
        }
    }

    private synchronized long available(String sku) {
        return stock.getOrDefault(sku, initialStock);
    }

    @GetMapping("/stock/{sku}")
    Stock stock(@PathVariable String sku) {
        return new Stock(sku, available(sku));
    }

    @GetMapping("/orders/{orderId}")
    synchronized ResponseEntity<?> status(@PathVariable String orderId) {
        String status = statuses.get(orderId);
        return status == null
                ? ResponseEntity.status(HttpStatus.NOT_FOUND).body(Map.of("error", "order not seen"))
                : ResponseEntity.ok(new Status(orderId, status));
    }

    @GetMapping("/dlq")
    List<Attempts.DeadLetter> dlq() {
        return attempts.deadLetters();
    }

    @GetMapping("/health")
    Map<String, String> health() {
        return Map.of("status", "ok");
    }
}
