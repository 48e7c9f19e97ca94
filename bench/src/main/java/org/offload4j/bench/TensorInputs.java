package org.offload4j.bench;

import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.stream.Collectors;
import org.offload4j.core.Args;
import org.offload4j.core.DType;
import org.offload4j.core.Tensor;
import org.offload4j.core.numerics.Fp64;
import org.offload4j.core.io.ElementType;
import org.offload4j.core.io.SafeTensors;
import org.offload4j.core.io.TensorData;
import org.offload4j.core.io.TensorSource;

/**
 * Reads the {@code FILE[:tensor]} arguments of {@code offload run}: a {@code .npy} file, a
 * safetensors file (the tensor named after the last ':', or its only tensor), a sharded index or
 * a checkpoint directory. Each input becomes a new, writable, aligned tensor owned by the caller,
 * so the files are closed at once. float64 inputs (NumPy's default, which no op takes) are rounded
 * to fp32, or to {@code --dtype}.
 */
final class TensorInputs {
    private static final ValueLayout.OfDouble FLOAT64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong INT64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private TensorInputs() {}

    /** A parsed {@code FILE[:tensor]}; {@code tensor} is null when not given. */
    record Ref(Path file, String tensor) {
        /**
         * The whole spec if it is a file; else split at the first ':' whose prefix exists (a file or
         * a checkpoint directory), so a tensor name may hold ':' ({@code dense/kernel:0}); else, for
         * the error message, at the last ':'.
         */
        static Ref parse(String spec) {
            if (Files.exists(Path.of(spec))) {
                return new Ref(Path.of(spec), null);
            }
            for (int colon = spec.indexOf(':'); colon >= 0; colon = spec.indexOf(':', colon + 1)) {
                if (colon > 0 && colon < spec.length() - 1 && Files.exists(Path.of(spec.substring(0, colon)))) {
                    return new Ref(Path.of(spec.substring(0, colon)), spec.substring(colon + 1));
                }
            }
            int colon = spec.lastIndexOf(':');
            if (colon > 0 && colon < spec.length() - 1) {
                return new Ref(Path.of(spec.substring(0, colon)), spec.substring(colon + 1));
            }
            return new Ref(Path.of(spec), null);
        }

        @Override
        public String toString() {
            return tensor == null ? file.toString() : file + ":" + tensor;
        }
    }

    /**
     * Input {@code role} from {@code spec}: a floating-point input rounded (nearest-even) to
     * {@code convertTo} when that is given and accepted, else in its own dtype if accepted.
     *
     * @throws IllegalArgumentException naming the role and the file for every problem
     */
    static Tensor read(String spec, String role, Set<DType> accepted, DType convertTo) {
        return read(spec, role, accepted, convertTo, true);
    }

    /** Input {@code role} in its own dtype, which must be accepted; {@code --dtype} does not apply to it. */
    static Tensor readAsIs(String spec, String role, Set<DType> accepted) {
        return read(spec, role, accepted, null, false);
    }

    private static Tensor read(String spec, String role, Set<DType> accepted, DType convertTo, boolean convertible) {
        Ref ref = Ref.parse(spec);
        try (TensorSource source = open(ref)) {
            return fromData(source.data(ref.tensor() != null ? ref.tensor() : onlyTensor(source, role)), ref, role, accepted,
                    convertTo, convertible);
        }
    }

    /** {@link #read}'s conversion and checks of the data found for {@code role}. */
    private static Tensor fromData(TensorData data, Ref ref, String role, Set<DType> accepted, DType convertTo,
                                   boolean convertible) {
        if (data.type() == ElementType.F64 && convertible) {
            return fromFloat64(data, convertTo != null ? convertTo : DType.FP32, role, ref, accepted);
        }
        DType own = data.type().dtype().orElseThrow(() -> new IllegalArgumentException(role + " (" + ref + ") has element type "
                + data.type() + "; accepted: " + names(accepted)));
        boolean convert = convertTo != null && own.isFloatingPoint() && own != convertTo;
        if (!convert && accepted.contains(own)) {
            return data.copy();
        }
        if (convert && !accepted.contains(convertTo)) {
            throw new IllegalArgumentException("--dtype " + convertTo + " does not suit " + role + " (" + ref + ", " + own
                    + "): " + role + " accepts " + names(accepted));
        }
        if (!convert) {
            throw new IllegalArgumentException(role + " (" + ref + ") is " + own + "; accepted: " + names(accepted)
                    + (convertible && own.isFloatingPoint() && convertTo == null ? " (--dtype T rounds floating-point inputs to T)" : ""));
        }
        try (Tensor view = data.view()) {
            return Tensor.of(convertTo, view.toFloatArray(), data.tensorShape());
        }
    }

    /**
     * An index tensor ({@code g_idx}) as int32: int32 as it is, int64 (NumPy's default integer
     * type, and what some checkpoints store) narrowed, each value checked to fit.
     */
    static Tensor readIndices(String spec, String role) {
        Ref ref = Ref.parse(spec);
        try (TensorSource source = open(ref)) {
            String name = ref.tensor() != null ? ref.tensor() : onlyTensor(source, role);
            TensorData data = source.data(name);
            if (data.type() != ElementType.I64) {
                return fromData(data, ref, role, Set.of(DType.INT32), null, false);
            }
            long count = data.bytes().byteSize() / Long.BYTES;
            Tensor t = Tensor.allocate(DType.INT32, data.tensorShape());
            try {
                for (long i = 0; i < count; i++) {
                    long v = data.bytes().getAtIndex(INT64, i);
                    Args.require(v == (int) v, role + " (" + ref + ")[" + i + "] = " + v + " does not fit int32");
                    t.segment().setAtIndex(ValueLayout.JAVA_INT, i, (int) v);
                }
                return t;
            } catch (RuntimeException e) {
                t.close();
                throw e;
            }
        }
    }

    /**
     * float64 data (NumPy's default) rounded once, to nearest-even, to {@code target}: a cast for
     * fp32, else through {@link Fp64#toFloatRoundedToOdd}, so that the float step does not round
     * a second time.
     */
    private static Tensor fromFloat64(TensorData data, DType target, String role, Ref ref, Set<DType> accepted) {
        if (!accepted.contains(target)) {
            throw new IllegalArgumentException(role + " (" + ref + ") is float64, read as " + target + "; accepted: " + names(accepted)
                    + " (--dtype T rounds floating-point inputs to T)");
        }
        long count = data.bytes().byteSize() / Double.BYTES;
        if (count > Tensor.MAX_ARRAY_ELEMENTS) {
            throw new IllegalArgumentException(role + " (" + ref + ") has " + count + " float64 elements; at most "
                    + Tensor.MAX_ARRAY_ELEMENTS + " can be converted");
        }
        float[] values = new float[(int) count];
        for (int i = 0; i < values.length; i++) {
            double x = data.bytes().getAtIndex(FLOAT64, i);
            values[i] = target == DType.FP32 ? (float) x : Fp64.toFloatRoundedToOdd(x);
        }
        return Tensor.of(target, values, data.tensorShape());
    }

    private static TensorSource open(Ref ref) {
        try {
            return SafeTensors.open(ref.file());
        } catch (IOException e) {
            throw new IllegalArgumentException(ref.file() + ": cannot read (" + e.getClass().getSimpleName() + ": "
                    + e.getMessage() + ")", e);
        }
    }

    private static String onlyTensor(TensorSource source, String role) {
        if (source.names().size() != 1) {
            throw new IllegalArgumentException(role + ": " + source.sourceName() + " holds " + source.names().size()
                    + " tensors; name one as FILE:tensor (it has " + abbreviate(source) + ")");
        }
        return source.names().getFirst();
    }

    private static String abbreviate(TensorSource s) {
        return s.names().size() <= 10 ? String.join(", ", s.names()) : String.join(", ", s.names().subList(0, 10)) + ", …";
    }

    private static String names(Set<DType> types) {
        return types.stream().map(DType::toString).sorted().collect(Collectors.joining(", "));
    }
}
