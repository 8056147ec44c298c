package dev.vltava.shop;

import java.util.Arrays;
import java.util.List;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.boot.builder.SpringApplicationBuilder;

/**
 * {@code java -jar shop.jar order|inventory|notification|all}. Each service is this application
 * run with the service's name as its Spring profile, which selects its beans and its port;
 * {@code all} runs the three as separate application contexts in one JVM, which starts faster
 * than three JVMs. SIGTERM closes every context (Spring Boot's shutdown hook).
 */
@SpringBootApplication
public class ShopApplication {
    static final List<String> SERVICES = List.of("order", "inventory", "notification");

    public static void main(String[] args) {
        String service = args.length > 0 ? args[0] : "";
        List<String> services = service.equals("all") ? SERVICES : List.of(service);
        if (!SERVICES.containsAll(services)) {
            System.err.println("usage: shop order|inventory|notification|all");
            System.exit(2);
        }
        String[] rest = Arrays.copyOfRange(args, Math.min(1, args.length), args.length);
        try {
            for (String name : services) {
                new SpringApplicationBuilder(ShopApplication.class).profiles(name).run(rest);
            }
        } catch (RuntimeException e) {
            // One service failed to start (Spring logged why): the ones already running would
            // keep the JVM alive, so exit, which closes them.
            System.exit(1);
        }
    }
}
