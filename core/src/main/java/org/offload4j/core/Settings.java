package org.offload4j.core;

/**
 * Numeric settings read from system properties ({@code -Doffload.cpu.threads=2}), strictly: a
 * value that is not an integer in range is reported in one WARNING log line naming the property,
 * the value and the range, and the default is used, rather than silently ignored
 * ({@code Integer.getInteger} returns the default for {@code two} or {@code " 1"} without a word).
 */
public final class Settings {
    private static final System.Logger LOG = System.getLogger(Settings.class.getName());

    private Settings() {
    }

    /**
     * The property as a long in {@code [min, max]} (surrounding blanks allowed), or {@code fallback}
     * when it is unset, blank or invalid (invalid: logged).
     */
    public static long integer(String property, long fallback, long min, long max) {
        String raw = System.getProperty(property);
        if (raw == null || raw.isBlank()) {
            return fallback;
        }
        try {
            long v = Long.parseLong(raw.trim());
            if (v >= min && v <= max) {
                return v;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        LOG.log(System.Logger.Level.WARNING, "-D{0}={1} is not an integer in [{2}, {3}]; using {4}", property, raw,
                Long.toString(min), Long.toString(max), Long.toString(fallback));
        return fallback;
    }

    /** As {@link #integer} for an int range. */
    public static int integer(String property, int fallback, int min, int max) {
        return (int) integer(property, (long) fallback, min, max);
    }

    /**
     * The property as one of {@code accepted} (trimmed, case-insensitive; returned as listed), or
     * {@code fallback} when it is unset, blank or not one of them (that last case logged).
     */
    public static String choice(String property, String fallback, String... accepted) {
        String raw = System.getProperty(property);
        if (raw == null || raw.isBlank()) {
            return fallback;
        }
        for (String a : accepted) {
            if (a.equalsIgnoreCase(raw.trim())) {
                return a;
            }
        }
        LOG.log(System.Logger.Level.WARNING, "-D{0}={1} is not one of {2}; using {3}", property, raw,
                String.join(", ", accepted), fallback);
        return fallback;
    }

    /** A switch: {@code true} or {@code false} (case-insensitive); unset, blank or anything else (logged) is false. */
    public static boolean flag(String property) {
        return choice(property, "false", "true", "false").equals("true");
    }
}
