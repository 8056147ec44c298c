package dev.vltava.shop;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.UUID;

/** An order event, the value of a record in {@code orders}. */
public record Order(String orderId, String sku, long quantity, String customer) {

    /** Why a value is not an order; its message is the dlq's {@code error} header. */
    public static class Malformed extends Exception {
        Malformed(String reason) {
            super(reason);
        }
    }

    /**
     * Reads an order from a JSON object. {@code order_id} may be absent only in a request to the
     * order service ({@code generateId}), which then makes one up.
     */
    public static Order fromJson(JsonNode node, boolean generateId) throws Malformed {
        if (node == null || !node.isObject()) {
            throw new Malformed("not a JSON object");
        }
        JsonNode id = node.get("order_id");
        String orderId = generateId && (id == null || id.isNull())
                ? UUID.randomUUID().toString()
                : text(node, "order_id");
        JsonNode quantity = node.get("quantity");
        // 2.0 and 2.5 are not integers here; canConvertToLong excludes the too large ones.
        if (quantity == null || !quantity.isIntegralNumber() || !quantity.canConvertToLong()
                || quantity.longValue() <= 0) {
            throw new Malformed("quantity is not a positive integer");
        }
        return new Order(orderId, text(node, "sku"), quantity.longValue(), text(node, "customer"));
    }

    private static String text(JsonNode node, String name) throws Malformed {
        JsonNode field = node.get(name);
        if (field == null || !field.isTextual()) {
            throw new Malformed(name + " is not a string");
        }
        return field.textValue();
    }

    /** The event's value, with the time it was made. */
    public ObjectNode toJson(ObjectNode node, long createdAt) {
        return node.put("order_id", orderId).put("sku", sku).put("quantity", quantity)
                .put("customer", customer).put("created_at", createdAt);
    }
}
