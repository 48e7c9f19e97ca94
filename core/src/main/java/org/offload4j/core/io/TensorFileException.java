package org.offload4j.core.io;

import java.util.Optional;

/**
 * A tensor file that breaks its format: truncated, a bad header, a tensor whose bytes lie outside
 * the file or overlap another's, an unknown dtype, a shape that does not match its byte range.
 * The message names the file, the tensor (when one is at fault) and the problem. It is an
 * {@link IllegalArgumentException} because a bad file is bad input, like any other argument.
 */
public final class TensorFileException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    private final String file;
    private final String tensor;
    private final String problem;

    TensorFileException(String file, String tensor, String problem) {
        this(file, tensor, problem, null);
    }

    TensorFileException(String file, String tensor, String problem, Throwable cause) {
        super(file + ": " + (tensor == null ? "" : "tensor '" + tensor + "': ") + problem, cause);
        this.file = file;
        this.tensor = tensor;
        this.problem = problem;
    }

    /** The file (as given to the reader). */
    public String file() {
        return file;
    }

    /** The tensor at fault, if the problem belongs to one. */
    public Optional<String> tensor() {
        return Optional.ofNullable(tensor);
    }

    /** The problem alone, without file and tensor. */
    public String problem() {
        return problem;
    }
}
