package dev.vltava.compat;

/** One row of the matrix: returns pass or skip, or throws (a failed check or a client error). */
@FunctionalInterface
interface Scenario {
    Result run(Context ctx) throws Exception;
}
