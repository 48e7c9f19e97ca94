package org.offload4j.cuda.moe;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.offload4j.cuda.attention.HostPrograms;
import org.offload4j.moe.MoeReference;
import org.offload4j.moe.Routing;

/**
 * Runs {@code src/test/cuda/moe_host_test.cu} (its own checks must pass) and compares the kernel's
 * top-k choices on its tie-heavy cases with {@link MoeReference#routeFromLogits}. Skipped where
 * nvcc is missing.
 */
class MoeHostTest {

    @Test
    void hostProgramPassesAndTopkMatchesTheReference() throws Exception {
        HostPrograms.Run run = HostPrograms.compileAndRun("moe_host_test", "--dump");
        assertEquals(0, run.status(), () -> String.join("\n", run.lines().stream().filter(l -> !l.startsWith("topk ")).toList()));
        int cases = 0;
        int withInfinities = 0;
        for (String line : run.lines()) {
            if (!line.startsWith("topk ")) {
                continue;
            }
            String[] f = line.split(" ");
            int e = Integer.parseInt(f[1]);
            int k = Integer.parseInt(f[2]);
            double[] logits = new double[e];
            boolean infinite = false;
            for (int i = 0; i < e; i++) {
                float x = Float.intBitsToFloat(Integer.parseUnsignedInt(f[3 + i]));
                logits[i] = x;
                infinite |= Float.isInfinite(x);
            }
            withInfinities += infinite ? 1 : 0;
            int[] got = new int[k];
            for (int j = 0; j < k; j++) {
                got[j] = Integer.parseInt(f[3 + e + j]);
            }
            Routing r = MoeReference.routeFromLogits(logits, e, k, true);
            assertArrayEquals(r.expertIds(), got, line);
            cases++;
        }
        assertTrue(cases > 50, "compared " + cases + " cases");
        assertTrue(withInfinities > 10, "compared " + withInfinities + " cases with ±inf logits");
    }
}
