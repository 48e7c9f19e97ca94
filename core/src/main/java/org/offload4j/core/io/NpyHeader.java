package org.offload4j.core.io;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The header dictionary of a {@code .npy} file, a Python literal such as
 * {@code {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }}. NumPy reads it with a
 * restricted literal evaluator; this is the same restricted grammar, by hand, because no JSON
 * library reads Python literals: a dict of quoted string keys whose values are quoted strings
 * (no escapes), {@code True}/{@code False}, or tuples of non-negative integers (an old
 * {@code L} suffix allowed). Anything else is rejected.
 */
final class NpyHeader {
    private final String file;
    private final String text;
    private int pos;

    private NpyHeader(String file, String text) {
        this.file = file;
        this.text = text;
    }

    /** The dictionary: values are String, Boolean or long[]. */
    static Map<String, Object> parse(String file, String text) {
        NpyHeader p = new NpyHeader(file, text);
        Map<String, Object> out = p.dict();
        p.skipSpace();
        if (p.pos != text.length()) {
            throw p.fail("unexpected text after the dictionary");
        }
        return out;
    }

    private Map<String, Object> dict() {
        skipSpace();
        expect('{');
        Map<String, Object> out = new LinkedHashMap<>();
        while (true) {
            skipSpace();
            if (peek() == '}') {
                pos++;
                return out;
            }
            String key = string();
            skipSpace();
            expect(':');
            skipSpace();
            if (out.put(key, value()) != null) {
                throw fail("duplicate key '" + key + "'");
            }
            skipSpace();
            if (peek() == ',') {
                pos++;
            } else if (peek() != '}') {
                throw fail("expected ',' or '}'");
            }
        }
    }

    private Object value() {
        char c = peek();
        if (c == '\'' || c == '"') {
            return string();
        }
        if (c == '(') {
            return tuple();
        }
        if (text.startsWith("True", pos)) {
            pos += 4;
            return Boolean.TRUE;
        }
        if (text.startsWith("False", pos)) {
            pos += 5;
            return Boolean.FALSE;
        }
        throw fail("expected a string, True, False or a tuple of integers");
    }

    private long[] tuple() {
        expect('(');
        List<Long> dims = new ArrayList<>();
        while (true) {
            skipSpace();
            if (peek() == ')') {
                pos++;
                return dims.stream().mapToLong(Long::longValue).toArray();
            }
            dims.add(integer());
            skipSpace();
            if (peek() == ',') {
                pos++;
            } else if (peek() != ')') {
                throw fail("expected ',' or ')' in the shape");
            }
        }
    }

    private long integer() {
        int start = pos;
        while (pos < text.length() && Character.isDigit(text.charAt(pos)) && text.charAt(pos) < 128) {
            pos++;
        }
        if (start == pos || pos - start > 18) {
            throw fail("expected a non-negative integer of at most 18 digits");
        }
        long v = Long.parseLong(text, start, pos, 10);
        if (pos < text.length() && text.charAt(pos) == 'L') {
            pos++;
        }
        return v;
    }

    private String string() {
        char q = peek();
        if (q != '\'' && q != '"') {
            throw fail("expected a quoted string");
        }
        int end = text.indexOf(q, pos + 1);
        if (end < 0) {
            throw fail("unterminated string");
        }
        String s = text.substring(pos + 1, end);
        if (s.indexOf('\\') >= 0) {
            throw fail("escapes in strings are not accepted");
        }
        pos = end + 1;
        return s;
    }

    private void skipSpace() {
        while (pos < text.length() && (text.charAt(pos) == ' ' || text.charAt(pos) == '\n' || text.charAt(pos) == '\t'
                || text.charAt(pos) == '\r')) {
            pos++;
        }
    }

    private char peek() {
        if (pos >= text.length()) {
            throw fail("header ends early");
        }
        return text.charAt(pos);
    }

    private void expect(char c) {
        if (peek() != c) {
            throw fail("expected '" + c + "'");
        }
        pos++;
    }

    private TensorFileException fail(String problem) {
        return new TensorFileException(file, null, "malformed header at character " + pos + ": " + problem);
    }
}
