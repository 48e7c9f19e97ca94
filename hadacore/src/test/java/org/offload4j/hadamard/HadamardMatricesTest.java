package org.offload4j.hadamard;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

class HadamardMatricesTest {

    /** H·Hᵀ = m·I with integer arithmetic: exact. */
    static void assertHadamard(int[][] h) {
        int m = h.length;
        for (int[] row : h) {
            assertEquals(m, row.length, "square");
            for (int v : row) {
                assertTrue(v == 1 || v == -1, "entries are ±1, got " + v);
            }
        }
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < m; j++) {
                int dot = 0;
                for (int k = 0; k < m; k++) {
                    dot += h[i][k] * h[j][k];
                }
                assertEquals(i == j ? m : 0, dot, "(H·Hᵀ)[" + i + "][" + j + "] for m = " + m);
            }
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {12, 20, 28, 40})
    void specialOrdersAreOrthogonalAndSymmetricOnlyForPaleyII(int m) {
        int[][] h = HadamardMatrices.of(m);
        assertEquals(m, h.length);
        assertHadamard(h);
        boolean symmetric = true;
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < m; j++) {
                symmetric &= h[i][j] == h[j][i];
            }
        }
        assertEquals(m == 28, symmetric, "H_" + m + ": only Paley II (m = 28) is symmetric");
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 4, 8, 64})
    void sylvesterIsOrthogonalSymmetricAndMatchesThePopcountFormula(int n) {
        int[][] h = HadamardMatrices.sylvester(n);
        assertHadamard(h);
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                assertEquals(HadamardMatrices.sylvesterEntry(i, j), h[i][j]);
                assertEquals(h[j][i], h[i][j]);
            }
        }
        assertArrayEquals(h, HadamardMatrices.of(n));
    }

    @Test
    void paleyIHasTheDocumentedBorder() {
        for (int q : new int[] {11, 19}) {
            int[][] h = HadamardMatrices.paleyI(q);
            for (int i = 0; i <= q; i++) {
                assertEquals(1, h[0][i], "first row all ones");
                assertEquals(i == 0 ? 1 : -1, h[i][0], "first column 1, −1, …");
            }
        }
        assertArrayEquals(HadamardMatrices.paleyI(11), HadamardMatrices.of(12));
        assertArrayEquals(HadamardMatrices.paleyI(19), HadamardMatrices.of(20));
        assertArrayEquals(HadamardMatrices.paleyII(13), HadamardMatrices.of(28));
    }

    @Test
    void h40IsTheDocumentedBlockMatrixOfH20() {
        int[][] h20 = HadamardMatrices.of(20);
        int[][] h40 = HadamardMatrices.of(40);
        for (int i = 0; i < 20; i++) {
            for (int j = 0; j < 20; j++) {
                assertEquals(h20[i][j], h40[i][j]);
                assertEquals(h20[i][j], h40[i][j + 20]);
                assertEquals(h20[i][j], h40[i + 20][j]);
                assertEquals(-h20[i][j], h40[i + 20][j + 20]);
            }
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {11, 13, 19})
    void jacobsthalHasTheDocumentedProperties(int q) {
        int[][] jac = HadamardMatrices.jacobsthal(q);
        for (int i = 0; i < q; i++) {
            assertEquals(0, jac[i][i]);
            assertEquals(0, Arrays.stream(jac[i]).sum(), "row sums are 0");
            for (int j = 0; j < q; j++) {
                assertEquals(q % 4 == 1 ? jac[i][j] : -jac[i][j], jac[j][i], "symmetry follows q mod 4");
                int dot = 0;
                for (int k = 0; k < q; k++) {
                    dot += jac[i][k] * jac[j][k];
                }
                assertEquals(i == j ? q - 1 : -1, dot, "Q·Qᵀ = q·I − J");
            }
        }
    }

    @Test
    void quadraticCharacterOfSmallPrimes() {
        // Squares mod 11: 1, 3, 4, 5, 9.
        int[] expected = {0, 1, -1, 1, 1, 1, -1, -1, -1, 1, -1};
        for (int x = 0; x < 11; x++) {
            assertEquals(expected[x], HadamardMatrices.quadraticCharacter(x, 11), "χ(" + x + ") mod 11");
        }
        assertEquals(-1, HadamardMatrices.quadraticCharacter(-1, 11), "−1 is a non-square when q ≡ 3 (mod 4)");
        assertEquals(1, HadamardMatrices.quadraticCharacter(-1, 13), "−1 is a square when q ≡ 1 (mod 4)");
    }

    @Test
    void denseIsTheKroneckerProductOfItsFactors() {
        HadamardSize size = HadamardSize.of(24);
        int[][] dense = HadamardMatrices.dense(size);
        int[][] h12 = HadamardMatrices.of(12);
        assertHadamard(dense);
        for (int i = 0; i < 24; i++) {
            for (int j = 0; j < 24; j++) {
                assertEquals(h12[i / 2][j / 2] * HadamardMatrices.sylvesterEntry(i % 2, j % 2), dense[i][j]);
                assertEquals(dense[i][j], HadamardMatrices.entry(size, h12, i, j));
            }
        }
    }

    @Test
    void badOrdersAreRejected() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> HadamardMatrices.of(24));
        assertTrue(e.getMessage().contains("m = 24"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> HadamardMatrices.paleyI(13));
        assertThrows(IllegalArgumentException.class, () -> HadamardMatrices.paleyII(11));
        assertThrows(IllegalArgumentException.class, () -> HadamardMatrices.paleyI(15));
        assertThrows(IllegalArgumentException.class, () -> HadamardMatrices.sylvester(6));
    }
}
