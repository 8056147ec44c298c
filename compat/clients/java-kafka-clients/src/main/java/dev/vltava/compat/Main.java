package dev.vltava.compat;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The compatibility-matrix client for kafka-clients: runs every scenario of compat/scenarios.txt
 * that the Java client supports and prints one JSON result line per scenario on stdout.
 *
 * <p>Usage: {@code Main --bootstrap HOST:PORT --prefix PREFIX [--previous-prefix P]
 * [--group-protocol classic|consumer] [--only ID,ID...]}. Exits 0 when it ran, whatever the scenarios said.
 */
public final class Main {
    /** The contract bounds each scenario at 60 s; a scenario past it is reported and abandoned. */
    private static final long SCENARIO_TIMEOUT_S = 60;

    private Main() {}

    public static void main(String[] args) throws InterruptedException {
        Context ctx;
        try {
            ctx = Context.parse(args);
        } catch (IllegalArgumentException e) {
            System.err.println("usage: run --bootstrap HOST:PORT --prefix PREFIX [--previous-prefix P]"
                    + " [--group-protocol classic|consumer] [--only ID,ID...]: " + e.getMessage());
            System.exit(2);
            return;
        }
        for (Map.Entry<String, Scenario> entry : scenarios().entrySet()) {
            if (!ctx.selected(entry.getKey())) {
                continue;
            }
            Result result = runBounded(entry.getKey(), entry.getValue(), ctx);
            System.out.println(result.toJson(entry.getKey()));
            System.out.flush();
        }
        // Abandoned scenario threads are daemons; exit without waiting for them.
        System.exit(0);
    }

    /** The scenarios in table order (compat/scenarios.txt). */
    private static Map<String, Scenario> scenarios() {
        Map<String, Scenario> s = new LinkedHashMap<>();
        s.put("metadata", RecordScenarios::metadata);
        s.put("produce_consume", RecordScenarios::produceConsume);
        s.put("headers", RecordScenarios::headers);
        s.put("null_and_empty_values", RecordScenarios::nullAndEmptyValues);
        s.put("value_1mib", RecordScenarios::value1Mib);
        for (String codec : CompressionScenario.CODECS) {
            s.put("compression_" + codec, c -> CompressionScenario.run(c, codec));
        }
        s.put("partitioner_murmur2", RecordScenarios::partitionerMurmur2);
        s.put("consumer_group", GroupScenarios::consumerGroup);
        s.put("commit_and_resume", GroupScenarios::commitAndResume);
        s.put("seek", RecordScenarios::seek);
        s.put("idempotent_producer", RecordScenarios::idempotentProducer);
        s.put("transactions", TransactionScenarios::transactions);
        s.put("consume_transform_produce", TransactionScenarios::consumeTransformProduce);
        s.put("admin_topics", AdminScenarios::topics);
        s.put("admin_configs", AdminScenarios::configs);
        s.put("admin_groups", AdminScenarios::groups);
        s.put("admin_delete_records", AdminScenarios::deleteRecords);
        s.put("error_unknown_topic", ErrorScenarios::unknownTopic);
        s.put("error_record_too_large", ErrorScenarios::recordTooLarge);
        s.put("error_invalid_topic_name", ErrorScenarios::invalidTopicName);
        s.put("error_topic_exists", ErrorScenarios::topicExists);
        return s;
    }

    /** Runs one scenario on its own daemon thread so that a hung client cannot stall the rest. */
    private static Result runBounded(String id, Scenario scenario, Context ctx) throws InterruptedException {
        System.err.println("== " + id);
        FutureTask<Result> task = new FutureTask<>(() -> scenario.run(ctx));
        Thread thread = new Thread(task, "scenario-" + id);
        thread.setDaemon(true);
        long started = System.nanoTime();
        thread.start();
        Result result;
        try {
            result = task.get(SCENARIO_TIMEOUT_S, TimeUnit.SECONDS);
        } catch (TimeoutException e) {
            task.cancel(true);
            result = Result.fail("timed out after " + SCENARIO_TIMEOUT_S + " s");
        } catch (ExecutionException e) {
            result = Result.fromThrowable(e.getCause());
        }
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started);
        System.err.println("== " + id + ": " + result.status() + " in " + ms + " ms: " + result.detail());
        return result;
    }
}
