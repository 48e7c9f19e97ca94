package org.offload4j.core.io;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFileAttributeView;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Writes a file through a temporary file beside it, moved over it once complete. Truncating the
 * file in place, as the writers first did, cut it under any open reader: rewriting a file that was
 * open ({@code SafeTensors.write(p, Map.of("w", f.data("w")), …)} with {@code f} open on {@code p},
 * the "edit the metadata and save" pattern) faulted on its own mapping and left only the header.
 * Now readers keep the old file until they close it, and a failed write leaves it as it was.
 */
final class FileReplace {
    private FileReplace() {}

    /** What fills the new file. */
    @FunctionalInterface
    interface Content {
        void writeTo(FileChannel ch) throws IOException;
    }

    /**
     * Writes {@code file} (through a symbolic link: its target) with {@code content}; an existing
     * file's POSIX permissions carry over.
     */
    static void write(Path file, Content content) throws IOException {
        Path target = Files.isSymbolicLink(file) ? file.toRealPath() : file;
        Path name = target.getFileName();
        Path tmp = target.resolveSibling("." + name + "." + Long.toHexString(ThreadLocalRandom.current().nextLong()) + ".tmp");
        boolean moved = false;
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                content.writeTo(ch);
            }
            copyPermissions(target, tmp);
            try {
                Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
            }
            moved = true;
        } finally {
            if (!moved) {
                Files.deleteIfExists(tmp);
            }
        }
    }

    private static void copyPermissions(Path from, Path to) throws IOException {
        PosixFileAttributeView src = Files.getFileAttributeView(from, PosixFileAttributeView.class);
        PosixFileAttributeView dst = Files.getFileAttributeView(to, PosixFileAttributeView.class);
        if (src != null && dst != null && Files.exists(from)) {
            dst.setPermissions(src.readAttributes().permissions());
        }
    }
}
