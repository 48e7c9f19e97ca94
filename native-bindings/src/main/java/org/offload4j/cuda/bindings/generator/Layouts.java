package org.offload4j.cuda.bindings.generator;

import java.lang.foreign.MemoryLayout;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

import org.offload4j.cuda.bindings.generator.Model.Array;
import org.offload4j.cuda.bindings.generator.Model.CType;
import org.offload4j.cuda.bindings.generator.Model.Field;
import org.offload4j.cuda.bindings.generator.Model.Pointer;
import org.offload4j.cuda.bindings.generator.Model.Primitive;
import org.offload4j.cuda.bindings.generator.Model.Record;
import org.offload4j.cuda.bindings.generator.Model.Struct;

/**
 * How a record becomes an FFM group layout: its members in order, with explicit padding where
 * clang's offsets leave a gap. The emitter writes exactly these members; the reader builds the
 * same layout here, at generation time, and checks it against clang's sizes and offsets.
 */
final class Layouts {

    private Layouts() {
    }

    /** A member of a group layout: padding, or a field (with a reduced alignment where it sits unaligned). */
    sealed interface Member permits Padding, FieldMember {
    }

    record Padding(long bytes) implements Member {
    }

    record FieldMember(Field field, long alignOverride) implements Member {
    }

    static List<Member> members(Record record) {
        List<Member> members = new ArrayList<>();
        if (record.union) {
            long largest = 0;
            for (Field f : record.fields) {
                members.add(new FieldMember(f, 0));
                largest = Math.max(largest, of(f.type()).byteSize());
            }
            if (largest < record.size) {
                members.add(new Padding(record.size));
            }
            return members;
        }
        long position = 0;
        for (Field f : record.fields) {
            if (f.offset() < position) {
                throw new IllegalStateException(record.reference() + "." + f.cName() + " overlaps the field before it");
            }
            if (f.offset() > position) {
                members.add(new Padding(f.offset() - position));
            }
            MemoryLayout layout = of(f.type());
            long align = layout.byteAlignment();
            while (f.offset() % align != 0) {
                align /= 2;
            }
            members.add(new FieldMember(f, align == layout.byteAlignment() ? 0 : align));
            position = f.offset() + layout.byteSize();
        }
        if (position < record.size) {
            members.add(new Padding(record.size - position));
        }
        return members;
    }

    /** The group's own alignment where clang's is larger than its members give (an aligned attribute); else 0. */
    static long alignOverride(Record record) {
        long natural = 1;
        for (Member m : members(record)) {
            if (m instanceof FieldMember fm) {
                natural = Math.max(natural, fm.alignOverride() != 0 ? fm.alignOverride() : of(fm.field().type()).byteAlignment());
            }
        }
        return record.align > natural ? record.align : 0;
    }

    static MemoryLayout of(Record record) {
        List<MemoryLayout> elements = new ArrayList<>();
        for (Member m : members(record)) {
            switch (m) {
                case Padding p -> elements.add(MemoryLayout.paddingLayout(p.bytes()));
                case FieldMember fm -> {
                    MemoryLayout l = of(fm.field().type()).withName(fm.field().cName());
                    elements.add(fm.alignOverride() != 0 ? l.withByteAlignment(fm.alignOverride()) : l);
                }
            }
        }
        MemoryLayout[] array = elements.toArray(MemoryLayout[]::new);
        MemoryLayout group = record.union ? MemoryLayout.unionLayout(array) : MemoryLayout.structLayout(array);
        long align = alignOverride(record);
        return align != 0 ? group.withByteAlignment(align) : group;
    }

    static MemoryLayout of(CType type) {
        return switch (type) {
            case Primitive p -> switch (p.scalar()) {
                case CHAR -> ValueLayout.JAVA_BYTE;
                case SHORT -> ValueLayout.JAVA_SHORT;
                case INT -> ValueLayout.JAVA_INT;
                case LONG, LONG_LONG -> ValueLayout.JAVA_LONG;
                case FLOAT -> ValueLayout.JAVA_FLOAT;
                case DOUBLE -> ValueLayout.JAVA_DOUBLE;
            };
            case Pointer p -> ValueLayout.ADDRESS;
            case Array a -> MemoryLayout.sequenceLayout(a.count(), of(a.element()));
            case Struct s -> of(s.record());
            case Model.Void v -> throw new IllegalArgumentException("void has no layout");
        };
    }
}
