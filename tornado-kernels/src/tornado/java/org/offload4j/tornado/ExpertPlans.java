package org.offload4j.tornado;

import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import org.offload4j.moe.ExpertWeights;

/**
 * What {@link TornadoMoeKernel} keeps for one expert-weights object: the host copy of each matrix
 * in the kernels' form ({@link ExpertArrays}, made at its first use) and the plans that read it
 * (grouped GEMM, expert MLP, forward), for the {@link #CAPACITIES} most recently used capacities.
 *
 * <p>Why per weights object and bounded by capacity: every plan holds its own device copy of the
 * experts it reads (TornadoVM shares device buffers only between the graphs of one execution
 * plan), so the bound is what bounds device memory. A shared cache for all layers thrashed once
 * a model had more MoE layers than it held (8 plans; Mixtral has 32): each decode call compiled a
 * graph and sent a layer's experts again. Per weights object, a decode loop's capacity and a
 * prompt's stay compiled. The layer's experts sit on the device once per plan that reads them:
 * once per capacity for a model that calls {@code forward} only with one pair of dtypes, more
 * when one capacity number is used by several kinds of plan (forward counts tokens, the GEMMs
 * and the MLP count token copies) or dtypes. Plans of one capacity are dropped together, least
 * recently used capacity first.
 *
 * <p>Not thread-safe: callers hold the kernel's lock (and a prepared copy's, see
 * {@link TornadoExpertWeights}).
 */
final class ExpertPlans implements AutoCloseable {
    /** Capacities whose plans are kept: a decode loop's and a prompt's. */
    static final int CAPACITIES = 2;

    private final ExpertArrays[] arrays;
    /** Capacity → its plans by key, in access order (least recently used first). */
    private final LinkedHashMap<Integer, Map<List<Object>, AutoCloseable>> byCapacity = new LinkedHashMap<>(4, 0.75f, true);

    /** For weights as the caller gave them: each matrix is copied at its first use. */
    ExpertPlans() {
        this.arrays = new ExpertArrays[ExpertWeights.Matrix.values().length];
    }

    /** For a prepared copy: both matrices copied already. */
    ExpertPlans(ExpertArrays gateUp, ExpertArrays down) {
        this.arrays = new ExpertArrays[] {gateUp, down};
    }

    /** {@code matrix} of {@code source} in the kernels' form, copied at its first use. */
    ExpertArrays arrays(ExpertWeights source, ExpertWeights.Matrix matrix) {
        int slot = matrix.ordinal();
        if (arrays[slot] == null) {
            arrays[slot] = ExpertArrays.copyOf(source, matrix);
        }
        return arrays[slot];
    }

    /** Bytes of weight values held on the host (and per plan that reads them, on the device). */
    long bytes() {
        long bytes = 0;
        for (ExpertArrays a : arrays) {
            bytes += a == null ? 0 : a.bytes();
        }
        return bytes;
    }

    /** The host copy of {@code matrix} if held (a prepared copy's: null once it was closed). */
    ExpertArrays held(ExpertWeights.Matrix matrix) {
        return arrays[matrix.ordinal()];
    }

    /**
     * The plan for {@code key} among those of {@code capacity}, made by {@code make} on a miss.
     * A new capacity's first plan is made before anything is dropped (a {@code make} that throws
     * changes nothing); then the least recently used capacities beyond {@link #CAPACITIES} go.
     */
    AutoCloseable plan(int capacity, List<Object> key, Supplier<? extends AutoCloseable> make) {
        Map<List<Object>, AutoCloseable> plans = byCapacity.get(capacity);
        AutoCloseable p = plans == null ? null : plans.get(key);
        if (p != null) {
            return p;
        }
        p = make.get();
        if (plans == null) {
            for (Iterator<Map<List<Object>, AutoCloseable>> it = byCapacity.values().iterator(); byCapacity.size() >= CAPACITIES; ) {
                closeAll(it.next());
                it.remove();
            }
            plans = new HashMap<>();
            byCapacity.put(capacity, plans);
        }
        plans.put(key, p);
        return p;
    }

    /** Lets the garbage collector free the host copy (a closed prepared copy; TornadoVM's arrays live in automatic arenas). */
    void dropArrays() {
        Arrays.fill(arrays, null);
    }

    /** Plans held now (tests). */
    int plansHeld() {
        return byCapacity.values().stream().mapToInt(Map::size).sum();
    }

    /** Frees every plan (their device copies); the host copy stays for a later plan. */
    @Override
    public void close() {
        byCapacity.values().forEach(ExpertPlans::closeAll);
        byCapacity.clear();
    }

    private static void closeAll(Map<List<Object>, AutoCloseable> plans) {
        plans.values().forEach(Plans.Cache::closeQuietly);
    }
}
