/**
 * The fast Hadamard transform op: {@code y = scale · x · H_d} along the last dimension.
 *
 * <ul>
 *   <li>{@link org.offload4j.hadamard.Hadamard}: the facade; checks every argument and runs the
 *       transform and its inverse on a backend. Its class comment is the op's contract.</li>
 *   <li>{@link org.offload4j.hadamard.RandomizedRotation}: seeded ±1 signs fused with the transform
 *       ({@code rotate}, {@code unrotate}).</li>
 *   <li>{@link org.offload4j.hadamard.HadamardSize}: which {@code d} are accepted and how each
 *       factors as {@code m · 2^k}.</li>
 *   <li>{@link org.offload4j.hadamard.HadamardMatrices}: the documented constructions of
 *       {@code H_12}, {@code H_20}, {@code H_28}, {@code H_40} and Sylvester's matrices.</li>
 *   <li>{@link org.offload4j.hadamard.HadamardReference}: the float64 oracle backends are tested
 *       against.</li>
 *   <li>{@link org.offload4j.hadamard.HadamardKernel}: what a backend implements.</li>
 * </ul>
 */
package org.offload4j.hadamard;
