package org.offload4j.cuda.bindings.generator;

import java.util.ArrayList;
import java.util.List;

/** What the generator emits, as read from the header: C types, records, functions and constants. */
final class Model {

    private Model() {
    }

    /** The C scalar types, with the {@code cuda_h} layout constant and Java carrier of each. */
    enum Scalar {
        CHAR("C_CHAR", "byte", "OfByte"),
        SHORT("C_SHORT", "short", "OfShort"),
        INT("C_INT", "int", "OfInt"),
        LONG("C_LONG", "long", "OfLong"),
        LONG_LONG("C_LONG_LONG", "long", "OfLong"),
        FLOAT("C_FLOAT", "float", "OfFloat"),
        DOUBLE("C_DOUBLE", "double", "OfDouble");

        final String layoutConstant;
        final String javaType;
        final String layoutClass;

        Scalar(String layoutConstant, String javaType, String layoutClass) {
            this.layoutConstant = layoutConstant;
            this.javaType = javaType;
            this.layoutClass = layoutClass;
        }
    }

    /** A C type as far as the ABI cares. */
    sealed interface CType permits Void, Primitive, Pointer, Array, Struct {
    }

    record Void() implements CType {
    }

    record Primitive(Scalar scalar) implements CType {
    }

    record Pointer() implements CType {
    }

    record Array(CType element, long count) implements CType {
    }

    record Struct(Record record) implements CType {
    }

    /** A field of a record; {@code offset} in bytes, as clang laid it out. */
    record Field(String cName, String javaName, CType type, String cTypeSpelling, long offset) {
    }

    /**
     * A struct or union with a complete definition. Top-level records are named after their C tag
     * (or the typedef of an anonymous one); an anonymous record that only types a field becomes a
     * class nested in its {@code outer} record, named after that field.
     */
    static final class Record {
        final String name;
        final Record outer;
        final boolean union;
        final long size;
        final long align;
        final List<Field> fields = new ArrayList<>();
        final List<Record> nested = new ArrayList<>();

        Record(String name, Record outer, boolean union, long size, long align) {
            this.name = name;
            this.outer = outer;
            this.union = union;
            this.size = size;
            this.align = align;
        }

        /** How code in the bindings package refers to this class. */
        String reference() {
            return outer == null ? name : outer.reference() + "." + name;
        }

        String cKeyword() {
            return union ? "union" : "struct";
        }
    }

    record Param(String javaName, CType type, String cTypeSpelling) {
    }

    /**
     * A bound function: {@code publicName} is what the header's users write (and the Java method's
     * name), {@code symbol} the exported symbol the header's macros turn it into.
     */
    record Function(String publicName, String symbol, CType result, String resultSpelling, List<Param> params,
                    List<String> cParamNames) {
    }

    /** A constant of {@code cuda_h}: an enum constant or an object-like macro. */
    record Constant(String name, String javaType, long value, String comment) {
    }
}
