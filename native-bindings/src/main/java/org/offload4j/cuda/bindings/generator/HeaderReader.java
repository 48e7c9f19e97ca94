package org.offload4j.cuda.bindings.generator;

import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import org.offload4j.cuda.bindings.generator.LibClang.Token;
import org.offload4j.cuda.bindings.generator.Model.Array;
import org.offload4j.cuda.bindings.generator.Model.CType;
import org.offload4j.cuda.bindings.generator.Model.Constant;
import org.offload4j.cuda.bindings.generator.Model.Field;
import org.offload4j.cuda.bindings.generator.Model.Function;
import org.offload4j.cuda.bindings.generator.Model.Param;
import org.offload4j.cuda.bindings.generator.Model.Pointer;
import org.offload4j.cuda.bindings.generator.Model.Primitive;
import org.offload4j.cuda.bindings.generator.Model.Record;
import org.offload4j.cuda.bindings.generator.Model.Scalar;
import org.offload4j.cuda.bindings.generator.Model.Struct;
import org.offload4j.cuda.bindings.generator.Model.Void;

import static org.offload4j.cuda.bindings.generator.LibClang.*;

/**
 * Reads one parsed translation unit: the enums and integer macros of the main file (in header
 * order), the function declarations, the macro definitions that rename public API names to
 * versioned symbols, and every record reachable from the selected functions.
 */
final class HeaderReader {

    /** A macro definition: parameter names (null for an object-like macro) and body tokens. */
    record Macro(String name, List<String> params, List<Token> body) {
    }

    private final LibClang clang;
    private final MemorySegment tu;

    final Map<String, Macro> macros = new HashMap<>();
    private final Map<String, MemorySegment> functionDecls = new HashMap<>();
    private final Map<String, MemorySegment> typedefs = new HashMap<>();
    /** Enum constants (all files, for macro bodies that name them), by name. */
    private final Map<String, Constant> enumConstants = new HashMap<>();
    /** The constants of the main file, by position in it. */
    private final java.util.TreeMap<Long, Constant> constantsByOffset = new java.util.TreeMap<>();
    private final Map<String, Long> macroOffsets = new LinkedHashMap<>();
    /** Top-level records by USR, in the order they were reached. */
    private final Map<String, Record> records = new LinkedHashMap<>();
    private final Map<String, Record> recordsByUsr = new HashMap<>();

    HeaderReader(LibClang clang, MemorySegment tu) {
        this.clang = clang;
        this.tu = tu;
        for (MemorySegment cursor : clang.children(clang.translationUnitCursor(tu))) {
            int kind = clang.kind(cursor);
            if (kind == CURSOR_FUNCTION_DECL) {
                functionDecls.putIfAbsent(clang.spelling(cursor), cursor);
            } else if (kind == CURSOR_TYPEDEF_DECL) {
                typedefs.putIfAbsent(clang.spelling(cursor), cursor);
            } else if (kind == CURSOR_MACRO_DEFINITION) {
                readMacro(cursor);
            } else if (kind == CURSOR_ENUM_DECL) {
                readEnum(cursor, clang.isFromMainFile(cursor));
            }
        }
        for (Map.Entry<String, Long> m : macroOffsets.entrySet()) {
            Macro macro = macros.get(m.getKey());
            Value value = new Evaluator(macro.body(), 0).all();
            if (value != null) {
                String text = String.join(" ", macro.body().stream().map(Token::spelling).toList());
                constantsByOffset.put(m.getValue(),
                        new Constant(macro.name(), value.javaType(), value.value(), "#define " + macro.name() + " " + text));
            }
        }
    }

    /** The enum constants and integer (or pointer) macros of the header, in header order. */
    List<Constant> constants() {
        List<Constant> list = new ArrayList<>(constantsByOffset.values());
        Set<String> names = new java.util.HashSet<>();
        for (Constant c : list) {
            if (!names.add(c.name())) {
                throw new IllegalStateException("constant " + c.name() + " defined twice");
            }
        }
        return list;
    }

    // ---- enums and macros ----

    /**
     * The name of a struct, union or enum declaration, or null for one without a name of its own
     * or a typedef's: {@code struct S} → S; {@code typedef struct { … } T;} → T, which libclang
     * 14 spells "" (and says is not anonymous) while later versions spell T, so the name is taken
     * from the spelling of the tag's type there ("T" for such a tag, "struct S" otherwise).
     */
    private String tagName(MemorySegment decl) {
        if (clang.isAnonymous(decl)) {
            return null;
        }
        String spelling = clang.spelling(decl);
        if (Names.isIdentifier(spelling)) {
            return spelling;
        }
        String typeSpelling = clang.typeSpelling(clang.type(decl));
        return Names.isIdentifier(typeSpelling) ? typeSpelling : null;
    }

    private void readEnum(MemorySegment decl, boolean mainFile) {
        String tag = tagName(decl);
        String enumName = tag == null ? "enum <anonymous>" : "enum " + tag;
        long size = clang.sizeOf(clang.canonical(clang.enumIntegerType(decl)));
        String javaType = size <= 4 ? "int" : "long";
        for (MemorySegment child : clang.children(decl)) {
            if (clang.kind(child) == CURSOR_ENUM_CONSTANT_DECL) {
                String name = clang.spelling(child);
                long value = clang.enumConstantValue(child);
                Constant constant = new Constant(name, javaType, value, enumName + "." + name + " = " + value);
                enumConstants.put(name, constant);
                if (mainFile) {
                    constantsByOffset.put(clang.fileOffset(child), constant);
                }
            }
        }
    }

    private void readMacro(MemorySegment cursor) {
        List<Token> tokens = clang.tokens(tu, cursor);
        if (tokens.isEmpty()) {
            return;
        }
        String name = tokens.get(0).spelling();
        List<String> params = null;
        int bodyStart = 1;
        if (clang.isMacroFunctionLike(cursor)) {
            params = new ArrayList<>();
            int i = 2; // tokens[1] is "("
            for (; i < tokens.size() && !tokens.get(i).spelling().equals(")"); i++) {
                if (tokens.get(i).kind() == TOKEN_IDENTIFIER) {
                    params.add(tokens.get(i).spelling());
                }
            }
            bodyStart = i + 1;
        }
        List<Token> body = List.copyOf(tokens.subList(Math.min(bodyStart, tokens.size()), tokens.size()));
        macros.put(name, new Macro(name, params, body)); // a redefinition replaces: the last one is in force
        if (params == null && !name.startsWith("_") && !body.isEmpty() && clang.isFromMainFile(cursor)) {
            macroOffsets.put(name, clang.fileOffset(cursor));
        }
    }

    /** The value of a constant expression: its Java type ({@code int}, {@code long}, {@code MemorySegment}) and bits. */
    record Value(String javaType, long value) {
    }

    /**
     * Evaluates the macro bodies worth a constant: an integer literal, {@code -} it, a parenthesized
     * or cast one ({@code ((CUdevice)-1)}, {@code ((void*)0x01)}, {@code ((CUstream)0x2)}), or the
     * name of an enum constant or of another such macro. Anything else gives null: no constant.
     */
    private final class Evaluator {
        private final List<Token> tokens;
        private final int depth;
        private int i;

        Evaluator(List<Token> tokens, int depth) {
            this.tokens = tokens;
            this.depth = depth;
        }

        Value all() {
            Value v = expression();
            return i == tokens.size() ? v : null;
        }

        private boolean at(String spelling) {
            return i < tokens.size() && tokens.get(i).spelling().equals(spelling);
        }

        private Value expression() {
            if (i >= tokens.size()) {
                return null;
            }
            Token t = tokens.get(i);
            if (at("(")) {
                i++;
                String castType = castType();
                Value v = castType != null ? null : expression();
                if (castType != null) {
                    v = expression();
                    return v == null ? null : new Value(castType, castType.equals("int") ? (int) v.value() : v.value());
                }
                if (v == null || !at(")")) {
                    return null;
                }
                i++;
                return v;
            }
            if (at("-")) {
                i++;
                Value v = expression();
                return v == null || v.javaType().equals("MemorySegment") ? null
                        : new Value(v.javaType(), v.javaType().equals("int") ? (int) -v.value() : -v.value());
            }
            i++;
            if (t.kind() == TOKEN_LITERAL) {
                IntegerLiteral literal = IntegerLiteral.parse(t.spelling());
                return literal == null ? null : new Value(literal.javaType(), literal.value());
            }
            if (t.kind() == TOKEN_IDENTIFIER) {
                Constant c = enumConstants.get(t.spelling());
                if (c != null) {
                    return new Value(c.javaType(), c.value());
                }
                Macro m = macros.get(t.spelling());
                if (m != null && m.params() == null && depth < 16) {
                    return new Evaluator(m.body(), depth + 1).all();
                }
            }
            return null;
        }

        /** After a "(": a cast's type and its ")" consumed, as a Java type; else null, nothing consumed. */
        private String castType() {
            int start = i;
            String base = null;
            if (at("void")) {
                base = "void";
            } else if (i < tokens.size() && tokens.get(i).kind() == TOKEN_IDENTIFIER
                    && typedefs.containsKey(tokens.get(i).spelling())) {
                base = typedefJavaType(typedefs.get(tokens.get(i).spelling()));
            }
            if (base == null) {
                return null;
            }
            i++;
            boolean pointer = false;
            while (at("*")) {
                pointer = true;
                i++;
            }
            if (!at(")") || (!pointer && base.equals("void"))) {
                i = start;
                return null;
            }
            i++;
            return pointer ? "MemorySegment" : base;
        }
    }

    /** The Java type of a typedef's values, where it is an integer or a pointer; else "void" (no constant). */
    private String typedefJavaType(MemorySegment typedef) {
        MemorySegment canonical = clang.canonical(clang.typedefUnderlyingType(typedef));
        int kind = clang.typeKind(canonical);
        if (kind == TYPE_POINTER) {
            return "MemorySegment";
        }
        boolean integer = kind == TYPE_INT || kind == TYPE_UINT || kind == TYPE_LONG || kind == TYPE_ULONG
                || kind == TYPE_LONGLONG || kind == TYPE_ULONGLONG || kind == TYPE_ENUM;
        return !integer ? "void" : clang.sizeOf(canonical) == 8 ? "long" : "int";
    }

    /** A C integer literal and the Java type C gives it on an LP64 target. */
    record IntegerLiteral(String javaType, long value) {
        static IntegerLiteral parse(String spelling) {
            String s = spelling.toLowerCase();
            int end = s.length();
            while (end > 0 && (s.charAt(end - 1) == 'u' || s.charAt(end - 1) == 'l')) {
                end--;
            }
            String suffix = s.substring(end);
            String digits = s.substring(0, end);
            int radix = 10;
            if (digits.startsWith("0x")) {
                radix = 16;
                digits = digits.substring(2);
            } else if (digits.length() > 1 && digits.startsWith("0")) {
                radix = 8;
                digits = digits.substring(1);
            }
            long value;
            try {
                value = Long.parseUnsignedLong(digits, radix);
            } catch (NumberFormatException notAnInteger) {
                return null; // a floating-point literal, a character, ...
            }
            boolean unsigned = suffix.contains("u");
            boolean isLong = suffix.contains("l");
            boolean fitsInt = radix == 10 && !unsigned
                    ? value >= 0 && value <= Integer.MAX_VALUE
                    : value >= 0 && value <= 0xFFFF_FFFFL;
            return new IntegerLiteral(!isLong && fitsInt ? "int" : "long", value);
        }
    }

    int cudaVersion() {
        return constantsByOffset.values().stream().filter(c -> c.name().equals("CUDA_VERSION")).findFirst()
                .map(c -> (int) c.value())
                .orElseThrow(() -> new IllegalStateException("the header defines no CUDA_VERSION: is it cuda.h?"));
    }

    // ---- functions ----

    /**
     * Expands {@code publicName} as the preprocessor would where it is called, until it names a
     * declared function: {@code cuMemAlloc} becomes {@code cuMemAlloc_v2},
     * {@code cuMemcpyHtoDAsync} becomes {@code __CUDA_API_PTSZ(cuMemcpyHtoDAsync_v2)} and then,
     * through the definition of {@code __CUDA_API_PTSZ} in force, {@code cuMemcpyHtoDAsync_v2}.
     */
    String resolveSymbol(String publicName) {
        List<String> tokens = List.of(publicName);
        for (int step = 0; step < 32; step++) {
            if (tokens.size() == 1 && !macros.containsKey(tokens.get(0))) {
                return tokens.get(0);
            }
            tokens = expandFirst(tokens);
        }
        throw new IllegalStateException("macro expansion of " + publicName + " does not end");
    }

    private List<String> expandFirst(List<String> tokens) {
        Macro macro = macros.get(tokens.get(0));
        if (macro == null) {
            throw new IllegalStateException("cannot expand " + tokens + " to a function name");
        }
        List<String> body = macro.body().stream().map(Token::spelling).toList();
        List<String> rest = tokens.subList(1, tokens.size());
        if (macro.params() != null) {
            if (rest.isEmpty() || !rest.get(0).equals("(")) {
                throw new IllegalStateException("function-like macro " + macro.name() + " without arguments");
            }
            List<List<String>> args = new ArrayList<>();
            List<String> current = new ArrayList<>();
            int depth = 0;
            int i = 1;
            for (; i < rest.size(); i++) {
                String t = rest.get(i);
                if (t.equals("(")) {
                    depth++;
                } else if (t.equals(")") && depth-- == 0) {
                    break;
                } else if (t.equals(",") && depth == 0) {
                    args.add(current);
                    current = new ArrayList<>();
                    continue;
                }
                current.add(t);
            }
            args.add(current);
            rest = rest.subList(i + 1, rest.size());
            List<String> substituted = new ArrayList<>();
            for (String t : body) {
                int p = macro.params().indexOf(t);
                if (p >= 0) {
                    substituted.addAll(args.get(p));
                } else {
                    substituted.add(t);
                }
            }
            body = paste(substituted);
        }
        List<String> result = new ArrayList<>(body);
        result.addAll(rest);
        return result;
    }

    private static List<String> paste(List<String> tokens) {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < tokens.size(); i++) {
            if (tokens.get(i).equals("##") && !out.isEmpty() && i + 1 < tokens.size()) {
                out.set(out.size() - 1, out.get(out.size() - 1) + tokens.get(++i));
            } else {
                out.add(tokens.get(i));
            }
        }
        return out;
    }

    Function function(String publicName) {
        String symbol = resolveSymbol(publicName);
        MemorySegment decl = functionDecls.get(symbol);
        if (decl == null) {
            throw new IllegalArgumentException(publicName + " (symbol " + symbol + ") is not declared in the header");
        }
        MemorySegment type = clang.type(decl);
        if (clang.typeKind(type) != TYPE_FUNCTION_PROTO || clang.isVariadic(type)) {
            throw new IllegalArgumentException(symbol + ": only prototyped, non-variadic functions are supported");
        }
        MemorySegment resultType = clang.resultType(type);
        CType result = resolve(resultType, null, null, false);
        if (result instanceof Struct) {
            throw new IllegalArgumentException(symbol + " returns a struct by value: not supported");
        }
        List<Param> params = new ArrayList<>();
        List<String> cNames = new ArrayList<>();
        Set<String> used = new java.util.HashSet<>();
        int n = clang.numArguments(decl);
        for (int i = 0; i < n; i++) {
            MemorySegment arg = clang.argument(decl, i);
            String cName = clang.spelling(arg);
            String javaName = Names.javaIdentifier(cName.isEmpty() ? "x" + i : cName);
            if (!used.add(javaName)) {
                javaName = javaName + i;
            }
            MemorySegment argType = clang.type(arg);
            CType ctype = resolve(argType, null, null, false);
            if (ctype instanceof Array) {
                ctype = new Pointer(); // an array parameter is a pointer
            }
            params.add(new Param(javaName, ctype, Names.typeSpelling(clang.typeSpelling(argType))));
            cNames.add(cName);
        }
        return new Function(publicName, symbol, result, Names.typeSpelling(clang.typeSpelling(resultType)), params, cNames);
    }

    // ---- types and records ----

    /** The records reached so far (top-level ones; nested ones hang off them), sorted by name. */
    List<Record> records() {
        List<Record> sorted = new ArrayList<>(records.values());
        sorted.sort(java.util.Comparator.comparing(r -> r.name));
        for (int i = 1; i < sorted.size(); i++) {
            if (sorted.get(i).name.equals(sorted.get(i - 1).name)) {
                throw new IllegalStateException("two records named " + sorted.get(i).name);
            }
        }
        return sorted;
    }

    /**
     * Maps a C type to what the ABI needs, registering every complete record it reaches (through
     * typedefs, arrays and pointers). {@code fieldName}/{@code outer}: the field this type is
     * declared for, if any, to name an anonymous record. {@code behindPointer}: the type is a
     * pointee, so an incomplete type or a function type is fine (it is never laid out).
     */
    private CType resolve(MemorySegment type, String fieldName, Record outer, boolean behindPointer) {
        String typedefName = null;
        while (true) {
            int kind = clang.typeKind(type);
            if (kind == TYPE_TYPEDEF) {
                MemorySegment decl = clang.declaration(type);
                typedefName = clang.spelling(decl);
                type = clang.typedefUnderlyingType(decl);
            } else if (kind == TYPE_ELABORATED) {
                type = clang.namedType(type);
            } else {
                break;
            }
        }
        MemorySegment canonical = clang.canonical(type);
        int kind = clang.typeKind(canonical);
        switch (kind) {
            case TYPE_VOID:
                return new Void();
            case TYPE_CHAR_S, TYPE_CHAR_U, TYPE_SCHAR, TYPE_UCHAR:
                return new Primitive(Scalar.CHAR);
            case TYPE_SHORT, TYPE_USHORT:
                return new Primitive(Scalar.SHORT);
            case TYPE_INT, TYPE_UINT:
                return new Primitive(Scalar.INT);
            case TYPE_LONG, TYPE_ULONG:
                return new Primitive(clang.sizeOf(canonical) == 8 ? Scalar.LONG : Scalar.INT);
            case TYPE_LONGLONG, TYPE_ULONGLONG:
                return new Primitive(Scalar.LONG_LONG);
            case TYPE_FLOAT:
                return new Primitive(Scalar.FLOAT);
            case TYPE_DOUBLE:
                return new Primitive(Scalar.DOUBLE);
            case TYPE_ENUM: {
                long size = clang.sizeOf(canonical);
                return new Primitive(size == 4 ? Scalar.INT : size == 8 ? Scalar.LONG_LONG
                        : size == 2 ? Scalar.SHORT : Scalar.CHAR);
            }
            case TYPE_POINTER:
                resolve(clang.pointee(type), null, null, true);
                return new Pointer();
            case TYPE_CONSTANT_ARRAY: {
                CType element = resolve(clang.arrayElementType(type), fieldName, outer, behindPointer);
                return new Array(element, clang.arraySize(canonical));
            }
            case TYPE_RECORD:
                return record(canonical, typedefName, fieldName, outer, behindPointer);
            case TYPE_FUNCTION_PROTO, TYPE_FUNCTION_NO_PROTO:
                if (behindPointer) {
                    return new Void(); // a function pointer is a plain pointer; its signature is not bound
                }
                break;
            case TYPE_INCOMPLETE_ARRAY:
                if (behindPointer) {
                    return new Void();
                }
                break;
            default:
                break;
        }
        throw new UnsupportedOperationException("unsupported C type " + clang.typeSpelling(type)
                + " (CXTypeKind " + kind + ")" + (fieldName == null ? "" : " of field " + fieldName));
    }

    private CType record(MemorySegment canonical, String typedefName, String fieldName, Record outer,
                         boolean behindPointer) {
        MemorySegment decl = clang.declaration(canonical);
        long size = clang.sizeOf(canonical);
        if (size < 0) {
            if (behindPointer) {
                return new Void(); // an opaque struct (CUctx_st, ...): only ever handled by pointer
            }
            throw new UnsupportedOperationException("incomplete " + clang.typeSpelling(canonical) + " used by value");
        }
        String usr = clang.usr(decl);
        Record known = recordsByUsr.get(usr);
        if (known != null) {
            return new Struct(known);
        }
        String tag = tagName(decl);
        String name;
        Record owner = null;
        if (tag != null) {
            name = tag;
        } else if (typedefName != null) {
            name = typedefName;
        } else if (fieldName != null && outer != null) {
            name = fieldName.equals(outer.name) ? fieldName + "$" : fieldName;
            owner = outer;
        } else {
            throw new UnsupportedOperationException("anonymous record " + clang.typeSpelling(canonical)
                    + " outside a field declaration");
        }
        Record record = new Record(name, owner, clang.kind(decl) == CURSOR_UNION_DECL, size, clang.alignOf(canonical));
        recordsByUsr.put(usr, record);
        if (owner == null) {
            records.put(usr, record);
        } else {
            owner.nested.add(record);
        }
        // C11 anonymous members (struct S { union { long long l; double d; }; }) have no field
        // cursor: libclang shows only their record declaration. Every anonymous record declared in
        // here must be the type of a named field (union { … } u;), else it is such a member.
        java.util.Set<String> unclaimed = new java.util.HashSet<>();
        for (MemorySegment child : clang.children(decl)) {
            int kind = clang.kind(child);
            if ((kind == CURSOR_STRUCT_DECL || kind == CURSOR_UNION_DECL) && clang.isAnonymous(child)) {
                unclaimed.add(clang.usr(child));
            }
        }
        for (MemorySegment child : clang.children(decl)) {
            if (clang.kind(child) != CURSOR_FIELD_DECL) {
                continue;
            }
            unclaimed.remove(clang.usr(clang.declaration(recordOf(clang.type(child)))));
            String cName = clang.spelling(child);
            if (cName.isEmpty()) {
                throw new UnsupportedOperationException(name + " has an anonymous member: not supported");
            }
            if (clang.isBitField(child)) {
                throw new UnsupportedOperationException(name + "." + cName + " is a bit-field: not supported");
            }
            long bits = clang.offsetOfField(child);
            long viaType = clang.offsetOf(canonical, cName);
            if (bits < 0 || bits % 8 != 0 || bits != viaType) {
                throw new IllegalStateException(name + "." + cName + ": offset " + bits + " bits (field), "
                        + viaType + " bits (clang_Type_getOffsetOf)");
            }
            MemorySegment fieldType = clang.type(child);
            CType ctype = resolve(fieldType, cName, record, false);
            String javaName = Names.javaIdentifier(cName);
            record.fields.add(new Field(cName, javaName, ctype, Names.typeSpelling(clang.typeSpelling(fieldType)), bits / 8));
        }
        if (!unclaimed.isEmpty()) {
            throw new UnsupportedOperationException(name + " has an anonymous member (a struct or union without a field"
                    + " name): not supported");
        }
        for (Record inner : record.nested) {
            if (inner.name.equals(record.name)) {
                throw new IllegalStateException("nested record " + inner.name + " clashes with " + record.name);
            }
        }
        checkLayout(record);
        return new Struct(record);
    }

    /** The canonical type under any arrays of {@code type} (a field's record, if it has one). */
    private MemorySegment recordOf(MemorySegment type) {
        MemorySegment t = clang.canonical(type);
        while (clang.arraySize(t) >= 0) {
            t = clang.canonical(clang.arrayElementType(t));
        }
        return t;
    }

    /** Builds the layout the Java code will build and checks it against clang's sizes and offsets. */
    private static void checkLayout(Record record) {
        MemoryLayout layout = Layouts.of(record);
        if (layout.byteSize() != record.size) {
            throw new IllegalStateException(record.reference() + ": Java layout has " + layout.byteSize()
                    + " bytes, clang says " + record.size);
        }
        if (layout.byteAlignment() != record.align) {
            throw new IllegalStateException(record.reference() + ": Java layout aligned to " + layout.byteAlignment()
                    + ", clang says " + record.align);
        }
        for (Field f : record.fields) {
            long offset = layout.byteOffset(MemoryLayout.PathElement.groupElement(f.cName()));
            if (offset != f.offset()) {
                throw new IllegalStateException(record.reference() + "." + f.cName() + ": Java offset " + offset
                        + ", clang says " + f.offset());
            }
        }
    }
}
