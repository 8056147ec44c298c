package dev.vltava.compat;

import java.util.Optional;
import java.util.Set;

/** The run's arguments: where the broker is and how names and consumers are chosen. */
record Context(String bootstrap, String prefix, Optional<String> previousPrefix, boolean consumerProtocol,
        Optional<Set<String>> only) {

    static Context parse(String[] args) {
        String bootstrap = null;
        String prefix = null;
        String previous = null;
        String protocol = "classic";
        Set<String> only = null;
        for (int i = 0; i < args.length; i++) {
            if (i + 1 >= args.length) {
                throw new IllegalArgumentException("missing value for " + args[i]);
            }
            String value = args[++i];
            switch (args[i - 1]) {
                case "--bootstrap" -> bootstrap = value;
                case "--prefix" -> prefix = value;
                case "--previous-prefix" -> previous = value;
                case "--group-protocol" -> protocol = value;
                case "--only" -> only = Set.of(value.split(","));
                default -> throw new IllegalArgumentException("unknown argument " + args[i - 1]);
            }
        }
        if (bootstrap == null || prefix == null) {
            throw new IllegalArgumentException("--bootstrap and --prefix are required");
        }
        if (!protocol.equals("classic") && !protocol.equals("consumer")) {
            throw new IllegalArgumentException("--group-protocol is classic or consumer");
        }
        return new Context(bootstrap, prefix, Optional.ofNullable(previous), protocol.equals("consumer"),
                Optional.ofNullable(only));
    }

    /** Whether the scenario runs: every one, or those --only names. */
    boolean selected(String scenario) {
        return only.map(ids -> ids.contains(scenario)).orElse(true);
    }

    /** A topic or group name owned by this run: every name starts with the prefix. */
    String name(String suffix) {
        return prefix + "-" + suffix;
    }
}
