package org.offload4j.cuda;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * A test method that needs a CUDA GPU (use it instead of {@code @Test}): tagged {@code gpu} (so {@code bin/offload selftest --gpu} picks
 * exactly these) and skipped, with the backend's own reason, where the CUDA backend is
 * unavailable. Never excluded from a run: CI shows them as skipped, with why.
 */
@Target({ElementType.METHOD, ElementType.ANNOTATION_TYPE})
@Retention(RetentionPolicy.RUNTIME)
@Test
@Tag("gpu")
@ExtendWith(GpuAvailable.class)
public @interface GpuTest {
}
