package org.offload4j.core;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class SettingsTest {
    private static final String P = "offload.test.settings";

    @AfterEach
    void clear() {
        System.clearProperty(P);
    }

    private static int read(String value) {
        if (value == null) {
            System.clearProperty(P);
        } else {
            System.setProperty(P, value);
        }
        return Settings.integer(P, 7, 1, 100);
    }

    @Test
    void integersInRangeAreTakenOthersFallBack() {
        assertEquals(7, read(null), "unset");
        assertEquals(7, read("  "), "blank");
        assertEquals(3, read("3"));
        assertEquals(3, read(" 3 "), "surrounding blanks");
        assertEquals(100, read("100"));
        assertEquals(1, read("1"));
        assertEquals(7, read("two"), "not a number");
        assertEquals(7, read("0"), "below the range");
        assertEquals(7, read("-3"), "below the range");
        assertEquals(7, read("101"), "above the range");
        assertEquals(7, read("99999999999999999999"), "beyond a long");
        assertEquals(7, read("2.5"), "not an integer");
    }

    @Test
    void choicesAndFlagsAreStrictToo() {
        System.setProperty(P, " Cuda-Cores ");
        assertEquals("cuda-cores", Settings.choice(P, "tensor-cores", "tensor-cores", "cuda-cores"));
        System.setProperty(P, "cuda_cores");
        assertEquals("tensor-cores", Settings.choice(P, "tensor-cores", "tensor-cores", "cuda-cores"), "unknown: the default");
        System.clearProperty(P);
        assertEquals("tensor-cores", Settings.choice(P, "tensor-cores", "tensor-cores", "cuda-cores"));
        for (String yes : new String[] {"true", "TRUE", " true "}) {
            System.setProperty(P, yes);
            assertEquals(true, Settings.flag(P), yes);
        }
        for (String no : new String[] {"false", "yes", "1", ""}) {
            System.setProperty(P, no);
            assertEquals(false, Settings.flag(P), no);
        }
    }
}
