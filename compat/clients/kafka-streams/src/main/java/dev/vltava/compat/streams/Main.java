package dev.vltava.compat.streams;

import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.streams.StreamsConfig;

/**
 * The Kafka Streams row of the compatibility matrix: streams_word_count (at least once) and
 * streams_exactly_once (the same topology with exactly_once_v2).
 *
 * <p>Usage: {@code Main --bootstrap HOST:PORT --prefix PREFIX [--previous-prefix P]} (the previous
 * prefix is accepted and unused). Prints one JSON result line per scenario on stdout; exits 0 when it ran.
 */
public final class Main {
    /** The contract's bound on one scenario. */
    private static final long SCENARIO_TIMEOUT_S = 60;

    private Main() {}

    public static void main(String[] args) {
        String bootstrap = null;
        String prefix = null;
        for (int i = 0; i + 1 < args.length; i += 2) {
            switch (args[i]) {
                case "--bootstrap" -> bootstrap = args[i + 1];
                case "--prefix" -> prefix = args[i + 1];
                case "--previous-prefix" -> { }
                default -> usage("unknown argument " + args[i]);
            }
        }
        if (bootstrap == null || prefix == null || args.length % 2 != 0) {
            usage("--bootstrap and --prefix are required");
        }
        run("streams_word_count", new WordCount(bootstrap, prefix, StreamsConfig.AT_LEAST_ONCE));
        run("streams_exactly_once", new WordCount(bootstrap, prefix + "-eos", StreamsConfig.EXACTLY_ONCE_V2));
        System.exit(0);
    }

    /** Runs one scenario on a daemon thread, bounded, and prints its JSON line. */
    private static void run(String id, WordCount scenario) {
        FutureTask<String> task = new FutureTask<>(scenario::run);
        Thread thread = new Thread(task, id);
        thread.setDaemon(true);
        thread.start();
        String status;
        String detail;
        try {
            detail = task.get(SCENARIO_TIMEOUT_S, TimeUnit.SECONDS);
            status = "pass";
        } catch (TimeoutException e) {
            task.cancel(true);
            status = "fail";
            detail = "timed out after " + SCENARIO_TIMEOUT_S + " s";
        } catch (ExecutionException e) {
            status = "fail";
            Throwable cause = e.getCause();
            if (!(cause instanceof WordCount.CheckFailed)) {
                cause.printStackTrace();
            }
            detail = cause instanceof WordCount.CheckFailed ? cause.getMessage()
                    : cause.getClass().getSimpleName() + ": " + cause.getMessage();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            status = "fail";
            detail = "interrupted";
        }
        System.err.println("== " + id + ": " + status + ": " + detail);
        System.out.println("{\"scenario\": \"" + id + "\", \"status\": \"" + status + "\", \"detail\": "
                + quote(detail) + "}");
        System.out.flush();
    }

    private static void usage(String why) {
        System.err.println("usage: run --bootstrap HOST:PORT --prefix PREFIX [--previous-prefix P]: " + why);
        System.exit(2);
    }

    private static String quote(String s) {
        StringBuilder out = new StringBuilder("\"");
        for (char c : String.valueOf(s).toCharArray()) {
            if (c == '"' || c == '\\') {
                out.append('\\').append(c);
            } else if (c < 0x20) {
                out.append(String.format("\\u%04x", (int) c));
            } else {
                out.append(c);
            }
        }
        return out.append('"').toString();
    }
}
