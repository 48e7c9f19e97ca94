package org.offload4j.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class MiniJsonTest {
    @Test
    void writtenValuesParseBackEqual() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("s", "quote \" backslash \\ tab \t newline \n µs");
        m.put("n", 1.5);
        m.put("t", true);
        m.put("z", null);
        m.put("l", List.of(1.0, "x", List.of(), Map.of()));
        assertEquals(m, MiniJson.parse(MiniJson.write(m)));
    }

    @Test
    void numbersEscapesAndWhitespace() {
        assertEquals(List.of(-1.0, 2.5e-3, 1e9), MiniJson.parse(" [ -1 , 2.5e-3,1E9 ] "));
        assertEquals("é\u0001/", MiniJson.parse("\"\\u00e9\\u0001\\/\""));
        assertEquals(Arrays.asList(null, false), MiniJson.parse("[null,false]"));
        assertEquals("null", MiniJson.write(Double.NaN), "JSON has no NaN");
    }

    @Test
    void malformedTextIsRejectedWithItsOffset() {
        for (String bad : new String[] {"", "{", "[1,]", "{\"a\" 1}", "\"open", "[1] x", "nul", "{1: 2}"}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> MiniJson.parse(bad), bad);
            assertTrue(e.getMessage().startsWith("not JSON: ") && e.getMessage().contains("offset"), e.getMessage());
        }
    }
}
