package dev.vltava.compat;

/** A scenario's outcome and its JSON line (the contract: scenario, status, detail). */
record Result(String status, String detail) {
    /** Keeps the detail a one-liner in the matrix. */
    private static final int DETAIL_CHARS_MAX = 300;

    static Result pass(String detail) {
        return new Result("pass", detail);
    }

    static Result skip(String detail) {
        return new Result("skip", detail);
    }

    static Result fail(String detail) {
        return new Result("fail", detail);
    }

    static Result fromThrowable(Throwable t) {
        if (t instanceof CheckFailed) {
            return fail(t.getMessage());
        }
        t.printStackTrace();
        return fail(Errors.describe(t));
    }

    String toJson(String scenario) {
        String d = detail.length() > DETAIL_CHARS_MAX ? detail.substring(0, DETAIL_CHARS_MAX) + "..." : detail;
        return "{\"scenario\": " + quote(scenario) + ", \"status\": " + quote(status) + ", \"detail\": " + quote(d) + "}";
    }

    private static String quote(String s) {
        StringBuilder out = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                default -> {
                    if (c < 0x20) {
                        out.append(String.format("\\u%04x", (int) c));
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        return out.append('"').toString();
    }
}
