package dev.vltava.compat;

import java.util.concurrent.ExecutionException;

/** Unwraps the futures' wrappers so that a check sees the client's own exception. */
final class Errors {
    private Errors() {}

    static Throwable root(Throwable t) {
        Throwable cur = t;
        // Bounded: futures wrap at most a few levels deep.
        for (int i = 0; i < 8 && cur instanceof ExecutionException && cur.getCause() != null; i++) {
            cur = cur.getCause();
        }
        return cur;
    }

    static String describe(Throwable t) {
        Throwable r = root(t);
        return r.getClass().getSimpleName() + ": " + r.getMessage();
    }
}
