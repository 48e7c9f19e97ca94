package org.offload4j.core.io;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.AccessDeniedException;
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
 * Now readers keep the old file until they close it, and a write that fails leaves it as it was
 * (the new file is forced to disk before the move, so that holds across a crash too).
 *
 * <p>What stays as a plain write would have it: a file Java may not write is refused
 * ({@link AccessDeniedException}), not replaced; a symbolic link is written through (its target
 * replaced, even when that does not exist yet); the file's POSIX permissions carry over. What
 * differs: the owner and group of a replaced file are the writer's, ACLs and other hard links to
 * the old file keep the old contents. Where no temporary file can be made beside the target (a
 * folder Java may not write, a name at the length limit), the file is written in place as before.
 */
final class FileReplace {
    private FileReplace() {}

    /** What fills the new file. */
    @FunctionalInterface
    interface Content {
        void writeTo(FileChannel ch) throws IOException;
    }

    static void write(Path file, Content content) throws IOException {
        Path target = resolveLinks(file);
        if (Files.exists(target) && !Files.isWritable(target)) {
            throw new AccessDeniedException(target.toString(), null, "the file is not writable");
        }
        Path tmp;
        try {
            tmp = Files.createFile(target.resolveSibling(".offload-" + Long.toHexString(ThreadLocalRandom.current().nextLong())
                    + ".tmp"));
        } catch (IOException | UnsupportedOperationException e) {
            writeInPlace(target, content);
            return;
        }
        boolean moved = false;
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
                content.writeTo(ch);
                ch.force(true);
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

    /** {@code file} with every symbolic link followed, the last one even when its target is missing. */
    private static Path resolveLinks(Path file) throws IOException {
        Path p = file;
        for (int hops = 0; Files.isSymbolicLink(p); hops++) {
            if (hops == 40) {
                throw new IOException(file + ": too many levels of symbolic links");
            }
            Path link = Files.readSymbolicLink(p);
            p = p.resolveSibling(link);
        }
        return p;
    }

    private static void writeInPlace(Path target, Content content) throws IOException {
        try (FileChannel ch = FileChannel.open(target, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            content.writeTo(ch);
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
