package org.offload4j.cuda.bindings.generator;

import java.util.Set;

/** Java names for C names. */
final class Names {

    private Names() {
    }

    private static final Set<String> KEYWORDS = Set.of(
            "abstract", "assert", "boolean", "break", "byte", "case", "catch", "char", "class", "const",
            "continue", "default", "do", "double", "else", "enum", "extends", "final", "finally", "float",
            "for", "goto", "if", "implements", "import", "instanceof", "int", "interface", "long", "native",
            "new", "package", "private", "protected", "public", "return", "short", "static", "strictfp",
            "super", "switch", "synchronized", "this", "throw", "throws", "transient", "try", "void",
            "volatile", "while", "true", "false", "null", "_", "record", "var", "yield", "sealed", "permits");

    private static final java.util.regex.Pattern ANONYMOUS =
            java.util.regex.Pattern.compile("\\((?:unnamed|anonymous) (struct|union|enum) at [^)]*\\)");

    /**
     * A type spelling fit for generated comments: clang spells an anonymous record with the path of
     * the header ({@code union (unnamed union at /usr/local/cuda/include/cuda.h:2446:5)}), which
     * would make the output depend on where the header is installed; that becomes {@code union { ... }}.
     */
    static String typeSpelling(String clangSpelling) {
        return ANONYMOUS.matcher(clangSpelling).replaceAll("{ ... }");
    }

    private static final java.util.regex.Pattern IDENTIFIER = java.util.regex.Pattern.compile("[A-Za-z_][A-Za-z0-9_]*");

    /** Whether {@code s} is a C identifier (not "", not a spelling like {@code struct S} or {@code (unnamed …)}). */
    static boolean isIdentifier(String s) {
        return IDENTIFIER.matcher(s).matches();
    }

    /** {@code name}, with a trailing underscore where it is a Java keyword or literal. */
    static String javaIdentifier(String name) {
        return KEYWORDS.contains(name) ? name + "_" : name;
    }
}
