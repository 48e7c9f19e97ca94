package org.offload4j.bench;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class OutputFilesTest {
    @TempDir
    Path dir;

    @Test
    void aNewFileInAnExistingDirectoryAndAnExistingFileAreWritable() throws IOException {
        assertDoesNotThrow(() -> OutputFiles.checkWritable("--out", dir.resolve("new.json")));
        Path existing = Files.writeString(dir.resolve("old.json"), "{}");
        assertDoesNotThrow(() -> OutputFiles.checkWritable("--out", existing));
        assertEquals("{}", Files.readString(existing), "the check writes nothing");
        assertTrue(Files.notExists(dir.resolve("new.json")), "the check creates nothing");
    }

    @Test
    void aMissingDirectoryOrADirectoryIsRefusedNamingTheOption() {
        IllegalArgumentException missing = assertThrows(IllegalArgumentException.class,
                () -> OutputFiles.checkWritable("--json", dir.resolve("no/such/r.json")));
        assertTrue(missing.getMessage().startsWith("--json ") && missing.getMessage().contains("does not exist"), missing.getMessage());
        IllegalArgumentException directory = assertThrows(IllegalArgumentException.class, () -> OutputFiles.checkWritable("--out", dir));
        assertTrue(directory.getMessage().contains("is a directory"), directory.getMessage());
    }

    @Test
    void aFailedWriteBecomesOneLineNamingTheOption() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> OutputFiles.write("--plot", dir.resolve("p.svg"), f -> {
                    throw new java.nio.file.FileSystemException(f.toString(), null, "No space left on device");
                }));
        assertTrue(e.getMessage().startsWith("--plot ") && e.getMessage().contains("No space left on device")
                && e.getMessage().lines().count() == 1, e.getMessage());
    }
}
