package org.offload4j.cuda.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.offload4j.cuda.hadamard.HadaCoreLaunch;
import org.offload4j.cuda.hadamard.HadamardLaunch;
import org.offload4j.cuda.w4a16.ActOrderGather;
import org.offload4j.cuda.w4a16.W4A16Launch;
import org.junit.jupiter.api.Test;

/** The Java kernel list and launch argument lists against the {@code .cu} sources (CPU only). */
class KernelNameTest {
    static final Path CUDA = Path.of("src/main/cuda");
    private static final Pattern ENTRY = Pattern.compile("extern \"C\" __global__[^\\n]*?\\b(o4j_[A-Za-z0-9_]+)\\(");

    static String sources() throws IOException {
        try (Stream<Path> files = Files.list(CUDA)) {
            StringBuilder sb = new StringBuilder();
            for (Path p : files.filter(p -> p.toString().endsWith(".cu") || p.toString().endsWith(".cuh")).sorted().toList()) {
                sb.append(Files.readString(p)).append('\n');
            }
            return sb.toString();
        }
    }

    @Test
    void everyExternCKernelIsInTheEnumAndViceVersa() throws IOException {
        Set<String> inSources = new TreeSet<>();
        Matcher mt = ENTRY.matcher(sources());
        while (mt.find()) {
            inSources.add(mt.group(1));
        }
        Set<String> inEnum = Arrays.stream(KernelName.values()).map(KernelName::symbol).collect(Collectors.toCollection(TreeSet::new));
        assertEquals(inEnum, inSources);
    }

    @Test
    void umbrellaIncludesEveryOpFile() throws IOException {
        String umbrella = Files.readString(CUDA.resolve("offload4j.cu"));
        try (Stream<Path> files = Files.list(CUDA)) {
            for (Path p : files.filter(p -> p.toString().endsWith(".cu") && !p.endsWith("offload4j.cu")).toList()) {
                assertTrue(umbrella.contains("#include \"" + p.getFileName() + "\""), p + " is not included by offload4j.cu");
            }
        }
    }

    @Test
    void hadamardSignaturesMatchTheLaunchContract() throws IOException {
        String src = sources();
        assertEquals(expected(HadamardLaunch.ARGUMENTS, "float"), parameters(src, "o4j_hadamard_f32"));
        assertEquals(expected(HadamardLaunch.ARGUMENTS, "__nv_bfloat16"), parameters(src, "o4j_hadamard_bf16"));
        assertEquals(expected(HadamardLaunch.ARGUMENTS, "__half"), parameters(src, "o4j_hadamard_f16"));
    }

    @Test
    void w4a16SignaturesMatchTheLaunchContract() throws IOException {
        String src = sources();
        assertEquals(expected(W4A16Launch.SPLITK_ARGUMENTS, "__nv_bfloat16"), parameters(src, "o4j_w4a16_splitk_bf16"));
        assertEquals(expected(W4A16Launch.SPLITK_ARGUMENTS, "__half"), parameters(src, "o4j_w4a16_splitk_f16"));
        assertEquals(expected(W4A16Launch.REDUCE_ARGUMENTS, "__nv_bfloat16"), parameters(src, "o4j_w4a16_reduce_bf16"));
        assertEquals(expected(W4A16Launch.REDUCE_ARGUMENTS, "__half"), parameters(src, "o4j_w4a16_reduce_f16"));
        assertEquals(ActOrderGather.ARGUMENTS, parameters(src, "o4j_w4a16_gather_columns"));
    }

    @Test
    void tensorCoreHadamardSignaturesMatchTheLaunchContract() throws IOException {
        String src = sources();
        String[][] types = {{"bf16", "__nv_bfloat16"}, {"f16", "__half"}, {"f32", "float"}};
        int checked = 0;
        for (KernelName k : KernelName.values()) {
            String s = k.symbol();
            if (!s.startsWith("o4j_hadamard_tc_")) {
                continue;
            }
            String t = null;
            String base = s.replaceAll("_(amax|fp8)$", "");
            for (String[] type : types) {
                if (base.endsWith("_" + type[0])) {
                    t = type[1];
                }
            }
            List<String> args = s.endsWith("_amax") ? HadaCoreLaunch.AMAX_ARGUMENTS
                    : s.endsWith("_fp8") ? HadaCoreLaunch.FP8_ARGUMENTS
                    : s.contains("_tc_m_") ? HadaCoreLaunch.MSEG_ARGUMENTS
                    : s.contains("_tc_regs") ? HadaCoreLaunch.REGS_ARGUMENTS : HadaCoreLaunch.SMEM_ARGUMENTS;
            assertEquals(expected(args, t), parameters(src, s), s);
            checked++;
        }
        assertEquals(66, checked, "tensor-core Hadamard entry points: 11 regs, 12 smem, 11 m·2^k, 32 fused FP8");
    }

    private static List<String> expected(List<String> args, String t) {
        return args.stream().map(a -> a.replaceAll("\\bT\\b", t)).toList();
    }

    /** The parameter list of the extern "C" definition of {@code name}, whitespace normalised. */
    static List<String> parameters(String src, String name) {
        Matcher mt = Pattern.compile("extern \"C\" __global__[^\\n]*?\\b" + name + "\\(([^)]*)\\)").matcher(src);
        assertTrue(mt.find(), name + " not found");
        List<String> out = new ArrayList<>();
        for (String p : mt.group(1).split(",")) {
            out.add(p.trim().replaceAll("\\s+", " "));
        }
        return out;
    }
}
