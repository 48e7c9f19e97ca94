package org.offload4j.cuda.bindings.generator;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

/** C integer literals get the value and type C gives them (LP64). */
class IntegerLiteralTest {

    private static HeaderReader.IntegerLiteral parse(String s) {
        return HeaderReader.IntegerLiteral.parse(s);
    }

    @Test
    void decimalHexOctalAndSuffixes() {
        assertEquals(new HeaderReader.IntegerLiteral("int", 13000), parse("13000"));
        assertEquals(new HeaderReader.IntegerLiteral("int", 0x80), parse("0x80"));
        assertEquals(new HeaderReader.IntegerLiteral("int", 8), parse("010"));
        assertEquals(new HeaderReader.IntegerLiteral("int", 0), parse("0"));
        assertEquals(new HeaderReader.IntegerLiteral("int", 0xFFFFFFFFL), parse("0xFFFFFFFFU"));
        assertEquals(new HeaderReader.IntegerLiteral("long", 1), parse("1ULL"));
        assertEquals(new HeaderReader.IntegerLiteral("long", 2147483648L), parse("2147483648"));
        assertEquals(new HeaderReader.IntegerLiteral("long", 0x100000000L), parse("0x100000000"));
    }

    @Test
    void notIntegers() {
        assertNull(parse("1.5f"));
        assertNull(parse("'a'"));
        assertNull(parse("\"text\""));
    }
}
