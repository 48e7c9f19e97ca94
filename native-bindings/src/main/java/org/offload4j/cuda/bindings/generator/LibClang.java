package org.offload4j.cuda.bindings.generator;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The bootstrap exception: hand-written FFM descriptors for the part of the libclang C API
 * ({@code clang-c/Index.h}, stable since clang 3.x) that the generator uses.
 *
 * <p>Everything in {@code org.offload4j.cuda.bindings} is generated from {@code cuda.h}; the
 * generator needs a C parser to do that, and the parser's own bindings cannot come from the
 * generator. They are written by hand here, once, and nowhere else. The small structs libclang
 * passes <em>by value</em> ({@code CXCursor}, {@code CXType}, {@code CXString},
 * {@code CXSourceRange}, {@code CXSourceLocation}, {@code CXToken}) are {@link StructLayout}s;
 * FFM passes and returns them by value as the platform ABI says. Values returned by value are
 * allocated in the {@link Arena} this object was made with, so they stay valid until it closes.
 *
 * <p>Not thread-safe; one instance per generator run.
 */
@SuppressWarnings("restricted")
final class LibClang {

    // Layouts of the by-value structs, as declared in clang-c/Index.h and clang-c/CXString.h.
    static final StructLayout CX_CURSOR = MemoryLayout.structLayout(
            JAVA_INT.withName("kind"), JAVA_INT.withName("xdata"),
            MemoryLayout.sequenceLayout(3, ADDRESS).withName("data")).withName("CXCursor");
    static final StructLayout CX_TYPE = MemoryLayout.structLayout(
            JAVA_INT.withName("kind"), MemoryLayout.paddingLayout(4),
            MemoryLayout.sequenceLayout(2, ADDRESS).withName("data")).withName("CXType");
    static final StructLayout CX_STRING = MemoryLayout.structLayout(
            ADDRESS.withName("data"), JAVA_INT.withName("private_flags"),
            MemoryLayout.paddingLayout(4)).withName("CXString");
    static final StructLayout CX_SOURCE_RANGE = MemoryLayout.structLayout(
            MemoryLayout.sequenceLayout(2, ADDRESS).withName("ptr_data"),
            JAVA_INT.withName("begin_int_data"), JAVA_INT.withName("end_int_data")).withName("CXSourceRange");
    static final StructLayout CX_SOURCE_LOCATION = MemoryLayout.structLayout(
            MemoryLayout.sequenceLayout(2, ADDRESS).withName("ptr_data"),
            JAVA_INT.withName("int_data"), MemoryLayout.paddingLayout(4)).withName("CXSourceLocation");
    static final StructLayout CX_TOKEN = MemoryLayout.structLayout(
            MemoryLayout.sequenceLayout(4, JAVA_INT).withName("int_data"),
            ADDRESS.withName("ptr_data")).withName("CXToken");

    // enum CXCursorKind
    static final int CURSOR_STRUCT_DECL = 2;
    static final int CURSOR_UNION_DECL = 3;
    static final int CURSOR_ENUM_DECL = 5;
    static final int CURSOR_FIELD_DECL = 6;
    static final int CURSOR_ENUM_CONSTANT_DECL = 7;
    static final int CURSOR_FUNCTION_DECL = 8;
    static final int CURSOR_TYPEDEF_DECL = 20;
    static final int CURSOR_MACRO_DEFINITION = 501;

    // enum CXTypeKind
    static final int TYPE_INVALID = 0;
    static final int TYPE_VOID = 2;
    static final int TYPE_BOOL = 3;
    static final int TYPE_CHAR_U = 4;
    static final int TYPE_UCHAR = 5;
    static final int TYPE_USHORT = 8;
    static final int TYPE_UINT = 9;
    static final int TYPE_ULONG = 10;
    static final int TYPE_ULONGLONG = 11;
    static final int TYPE_CHAR_S = 13;
    static final int TYPE_SCHAR = 14;
    static final int TYPE_SHORT = 16;
    static final int TYPE_INT = 17;
    static final int TYPE_LONG = 18;
    static final int TYPE_LONGLONG = 19;
    static final int TYPE_FLOAT = 21;
    static final int TYPE_DOUBLE = 22;
    static final int TYPE_POINTER = 101;
    static final int TYPE_RECORD = 105;
    static final int TYPE_ENUM = 106;
    static final int TYPE_TYPEDEF = 107;
    static final int TYPE_FUNCTION_NO_PROTO = 110;
    static final int TYPE_FUNCTION_PROTO = 111;
    static final int TYPE_CONSTANT_ARRAY = 112;
    static final int TYPE_INCOMPLETE_ARRAY = 114;
    static final int TYPE_ELABORATED = 119;

    // enum CXTokenKind
    static final int TOKEN_PUNCTUATION = 0;
    static final int TOKEN_IDENTIFIER = 2;
    static final int TOKEN_LITERAL = 3;

    // enum CXTranslationUnit_Flags, CXChildVisitResult, CXDiagnosticSeverity
    static final int TU_DETAILED_PREPROCESSING_RECORD = 0x01;
    static final int TU_SKIP_FUNCTION_BODIES = 0x40;
    static final int VISIT_CONTINUE = 1;
    static final int DIAGNOSTIC_ERROR = 3;

    private static final Linker LINKER = Linker.nativeLinker();

    private final Arena arena;
    private final SymbolLookup lookup;

    private final MethodHandle createIndex, toggleCrashRecovery, disposeIndex, parseTranslationUnit, disposeTranslationUnit,
            getNumDiagnostics, getDiagnostic, getDiagnosticSeverity, formatDiagnostic, disposeDiagnostic,
            getTranslationUnitCursor, visitChildren, getCursorKind, getCursorSpelling, getCursorUSR,
            getCString, disposeString, getCursorType, getTypedefDeclUnderlyingType, getEnumDeclIntegerType,
            getEnumConstantDeclValue, getCanonicalType, getPointeeType, getTypeDeclaration, getTypeSpelling,
            typeGetNamedType, typeGetSizeOf, typeGetAlignOf, typeGetOffsetOf, cursorGetOffsetOfField,
            cursorIsBitField, cursorIsAnonymous, getArrayElementType, getArraySize, getResultType,
            cursorGetNumArguments, cursorGetArgument, isFunctionTypeVariadic, cursorIsMacroFunctionLike,
            getCursorExtent, getCursorLocation, locationIsFromMainFile, getSpellingLocation, tokenize, getTokenKind,
            getTokenSpelling, disposeTokens;

    /** Binds the functions of the libclang shared library at {@code library}. */
    LibClang(Path library, Arena arena) {
        this.arena = arena;
        this.lookup = SymbolLookup.libraryLookup(library, arena);
        createIndex = fn("clang_createIndex", ADDRESS, JAVA_INT, JAVA_INT);
        toggleCrashRecovery = fnVoid("clang_toggleCrashRecovery", JAVA_INT);
        disposeIndex = fnVoid("clang_disposeIndex", ADDRESS);
        parseTranslationUnit = fn("clang_parseTranslationUnit", ADDRESS,
                ADDRESS, ADDRESS, ADDRESS, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT);
        disposeTranslationUnit = fnVoid("clang_disposeTranslationUnit", ADDRESS);
        getNumDiagnostics = fn("clang_getNumDiagnostics", JAVA_INT, ADDRESS);
        getDiagnostic = fn("clang_getDiagnostic", ADDRESS, ADDRESS, JAVA_INT);
        getDiagnosticSeverity = fn("clang_getDiagnosticSeverity", JAVA_INT, ADDRESS);
        formatDiagnostic = fn("clang_formatDiagnostic", CX_STRING, ADDRESS, JAVA_INT);
        disposeDiagnostic = fnVoid("clang_disposeDiagnostic", ADDRESS);
        getTranslationUnitCursor = fn("clang_getTranslationUnitCursor", CX_CURSOR, ADDRESS);
        visitChildren = fn("clang_visitChildren", JAVA_INT, CX_CURSOR, ADDRESS, ADDRESS);
        getCursorKind = fn("clang_getCursorKind", JAVA_INT, CX_CURSOR);
        getCursorSpelling = fn("clang_getCursorSpelling", CX_STRING, CX_CURSOR);
        getCursorUSR = fn("clang_getCursorUSR", CX_STRING, CX_CURSOR);
        getCString = fn("clang_getCString", ADDRESS, CX_STRING);
        disposeString = fnVoid("clang_disposeString", CX_STRING);
        getCursorType = fn("clang_getCursorType", CX_TYPE, CX_CURSOR);
        getTypedefDeclUnderlyingType = fn("clang_getTypedefDeclUnderlyingType", CX_TYPE, CX_CURSOR);
        getEnumDeclIntegerType = fn("clang_getEnumDeclIntegerType", CX_TYPE, CX_CURSOR);
        getEnumConstantDeclValue = fn("clang_getEnumConstantDeclValue", JAVA_LONG, CX_CURSOR);
        getCanonicalType = fn("clang_getCanonicalType", CX_TYPE, CX_TYPE);
        getPointeeType = fn("clang_getPointeeType", CX_TYPE, CX_TYPE);
        getTypeDeclaration = fn("clang_getTypeDeclaration", CX_CURSOR, CX_TYPE);
        getTypeSpelling = fn("clang_getTypeSpelling", CX_STRING, CX_TYPE);
        typeGetNamedType = fn("clang_Type_getNamedType", CX_TYPE, CX_TYPE);
        typeGetSizeOf = fn("clang_Type_getSizeOf", JAVA_LONG, CX_TYPE);
        typeGetAlignOf = fn("clang_Type_getAlignOf", JAVA_LONG, CX_TYPE);
        typeGetOffsetOf = fn("clang_Type_getOffsetOf", JAVA_LONG, CX_TYPE, ADDRESS);
        cursorGetOffsetOfField = fn("clang_Cursor_getOffsetOfField", JAVA_LONG, CX_CURSOR);
        cursorIsBitField = fn("clang_Cursor_isBitField", JAVA_INT, CX_CURSOR);
        cursorIsAnonymous = fn("clang_Cursor_isAnonymous", JAVA_INT, CX_CURSOR);
        getArrayElementType = fn("clang_getArrayElementType", CX_TYPE, CX_TYPE);
        getArraySize = fn("clang_getArraySize", JAVA_LONG, CX_TYPE);
        getResultType = fn("clang_getResultType", CX_TYPE, CX_TYPE);
        cursorGetNumArguments = fn("clang_Cursor_getNumArguments", JAVA_INT, CX_CURSOR);
        cursorGetArgument = fn("clang_Cursor_getArgument", CX_CURSOR, CX_CURSOR, JAVA_INT);
        isFunctionTypeVariadic = fn("clang_isFunctionTypeVariadic", JAVA_INT, CX_TYPE);
        cursorIsMacroFunctionLike = fn("clang_Cursor_isMacroFunctionLike", JAVA_INT, CX_CURSOR);
        getCursorExtent = fn("clang_getCursorExtent", CX_SOURCE_RANGE, CX_CURSOR);
        getCursorLocation = fn("clang_getCursorLocation", CX_SOURCE_LOCATION, CX_CURSOR);
        locationIsFromMainFile = fn("clang_Location_isFromMainFile", JAVA_INT, CX_SOURCE_LOCATION);
        getSpellingLocation = fnVoid("clang_getSpellingLocation", CX_SOURCE_LOCATION, ADDRESS, ADDRESS, ADDRESS, ADDRESS);
        tokenize = fnVoid("clang_tokenize", ADDRESS, CX_SOURCE_RANGE, ADDRESS, ADDRESS);
        getTokenKind = fn("clang_getTokenKind", JAVA_INT, CX_TOKEN);
        getTokenSpelling = fn("clang_getTokenSpelling", CX_STRING, ADDRESS, CX_TOKEN);
        disposeTokens = fnVoid("clang_disposeTokens", ADDRESS, ADDRESS, JAVA_INT);
    }

    private MethodHandle fn(String name, MemoryLayout result, MemoryLayout... args) {
        return LINKER.downcallHandle(symbol(name), FunctionDescriptor.of(result, args));
    }

    private MethodHandle fnVoid(String name, MemoryLayout... args) {
        return LINKER.downcallHandle(symbol(name), FunctionDescriptor.ofVoid(args));
    }

    private MemorySegment symbol(String name) {
        return lookup.find(name).orElseThrow(() -> new UnsatisfiedLinkError("libclang lacks " + name));
    }

    // ---- index and translation unit ----

    /**
     * Creates an index with libclang's crash recovery off: its signal handlers would take the
     * SIGSEGVs the JVM uses for null checks and safepoints, and re-raise them fatally.
     */
    MemorySegment createIndex() {
        MemorySegment index = (MemorySegment) call(createIndex, 0, 0);
        call(toggleCrashRecovery, 0);
        return index;
    }

    void disposeIndex(MemorySegment index) {
        call(disposeIndex, index);
    }

    /** Parses {@code file}; returns NULL where libclang could not (then there is nothing to report). */
    MemorySegment parse(MemorySegment index, String file, List<String> args, int options) {
        MemorySegment argv = arena.allocate(ADDRESS, Math.max(1, args.size()));
        for (int i = 0; i < args.size(); i++) {
            argv.setAtIndex(ADDRESS, i, arena.allocateFrom(args.get(i)));
        }
        return (MemorySegment) call(parseTranslationUnit, index, arena.allocateFrom(file), argv,
                args.size(), MemorySegment.NULL, 0, options);
    }

    void disposeTranslationUnit(MemorySegment tu) {
        call(disposeTranslationUnit, tu);
    }

    /** The formatted diagnostics of severity error or worse. */
    List<String> errors(MemorySegment tu) {
        List<String> errors = new ArrayList<>();
        int n = (int) call(getNumDiagnostics, tu);
        for (int i = 0; i < n; i++) {
            MemorySegment diagnostic = (MemorySegment) call(getDiagnostic, tu, i);
            if ((int) call(getDiagnosticSeverity, diagnostic) >= DIAGNOSTIC_ERROR) {
                errors.add(string((MemorySegment) call(formatDiagnostic, arena, diagnostic, 0)));
            }
            call(disposeDiagnostic, diagnostic);
        }
        return errors;
    }

    // ---- cursors ----

    MemorySegment translationUnitCursor(MemorySegment tu) {
        return (MemorySegment) call(getTranslationUnitCursor, arena, tu);
    }

    /** The direct children of {@code cursor}, in source order, copied out of the visitor's frame. */
    List<MemorySegment> children(MemorySegment cursor) {
        List<MemorySegment> children = new ArrayList<>();
        try (Arena upcallArena = Arena.ofConfined()) {
            MethodHandle target = MethodHandles.insertArguments(COLLECT, 0, children, arena);
            MemorySegment visitor = LINKER.upcallStub(target,
                    FunctionDescriptor.of(JAVA_INT, CX_CURSOR, CX_CURSOR, ADDRESS), upcallArena);
            call(visitChildren, cursor, visitor, MemorySegment.NULL);
        }
        return children;
    }

    private static final MethodHandle COLLECT;

    static {
        try {
            COLLECT = MethodHandles.lookup().findStatic(LibClang.class, "collect", MethodType.methodType(
                    int.class, List.class, Arena.class, MemorySegment.class, MemorySegment.class, MemorySegment.class));
        } catch (ReflectiveOperationException e) {
            throw new LinkageError("LibClang.collect", e);
        }
    }

    @SuppressWarnings("unused") // the visitor upcall
    private static int collect(List<MemorySegment> into, Arena arena, MemorySegment cursor,
                               MemorySegment parent, MemorySegment clientData) {
        into.add(arena.allocate(CX_CURSOR).copyFrom(cursor));
        return VISIT_CONTINUE;
    }

    int kind(MemorySegment cursor) {
        return (int) call(getCursorKind, cursor);
    }

    String spelling(MemorySegment cursor) {
        return string((MemorySegment) call(getCursorSpelling, arena, cursor));
    }

    String usr(MemorySegment cursor) {
        return string((MemorySegment) call(getCursorUSR, arena, cursor));
    }

    MemorySegment type(MemorySegment cursor) {
        return (MemorySegment) call(getCursorType, arena, cursor);
    }

    MemorySegment typedefUnderlyingType(MemorySegment cursor) {
        return (MemorySegment) call(getTypedefDeclUnderlyingType, arena, cursor);
    }

    MemorySegment enumIntegerType(MemorySegment cursor) {
        return (MemorySegment) call(getEnumDeclIntegerType, arena, cursor);
    }

    long enumConstantValue(MemorySegment cursor) {
        return (long) call(getEnumConstantDeclValue, cursor);
    }

    /** Offset of a field declaration from the start of its record, in bits. */
    long offsetOfField(MemorySegment cursor) {
        return (long) call(cursorGetOffsetOfField, cursor);
    }

    boolean isBitField(MemorySegment cursor) {
        return (int) call(cursorIsBitField, cursor) != 0;
    }

    boolean isAnonymous(MemorySegment cursor) {
        return (int) call(cursorIsAnonymous, cursor) != 0;
    }

    int numArguments(MemorySegment cursor) {
        return (int) call(cursorGetNumArguments, cursor);
    }

    MemorySegment argument(MemorySegment cursor, int i) {
        return (MemorySegment) call(cursorGetArgument, arena, cursor, i);
    }

    boolean isMacroFunctionLike(MemorySegment cursor) {
        return (int) call(cursorIsMacroFunctionLike, cursor) != 0;
    }

    boolean isFromMainFile(MemorySegment cursor) {
        MemorySegment location = (MemorySegment) call(getCursorLocation, arena, cursor);
        return (int) call(locationIsFromMainFile, location) != 0;
    }

    /** The byte offset of {@code cursor}'s location in its file: orders declarations and macros of one file. */
    long fileOffset(MemorySegment cursor) {
        MemorySegment location = (MemorySegment) call(getCursorLocation, arena, cursor);
        MemorySegment offset = arena.allocate(JAVA_INT);
        call(getSpellingLocation, location, MemorySegment.NULL, MemorySegment.NULL, MemorySegment.NULL, offset);
        return Integer.toUnsignedLong(offset.get(JAVA_INT, 0));
    }

    /** A token of a macro definition: its kind ({@code TOKEN_*}) and spelling. */
    record Token(int kind, String spelling) {
    }

    /** The tokens of {@code cursor}'s extent; for a macro definition: name, [parameters,] body. */
    List<Token> tokens(MemorySegment tu, MemorySegment cursor) {
        MemorySegment range = (MemorySegment) call(getCursorExtent, arena, cursor);
        MemorySegment tokensOut = arena.allocate(ADDRESS);
        MemorySegment countOut = arena.allocate(JAVA_INT);
        call(tokenize, tu, range, tokensOut, countOut);
        int count = countOut.get(JAVA_INT, 0);
        MemorySegment tokens = tokensOut.get(ADDRESS, 0).reinterpret(CX_TOKEN.byteSize() * count);
        List<Token> result = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            MemorySegment token = tokens.asSlice(CX_TOKEN.byteSize() * i, CX_TOKEN);
            result.add(new Token((int) call(getTokenKind, token),
                    string((MemorySegment) call(getTokenSpelling, arena, tu, token))));
        }
        if (count > 0) {
            call(disposeTokens, tu, tokens, count);
        }
        return result;
    }

    // ---- types ----

    int typeKind(MemorySegment type) {
        return type.get(JAVA_INT, 0);
    }

    MemorySegment canonical(MemorySegment type) {
        return (MemorySegment) call(getCanonicalType, arena, type);
    }

    MemorySegment pointee(MemorySegment type) {
        return (MemorySegment) call(getPointeeType, arena, type);
    }

    MemorySegment declaration(MemorySegment type) {
        return (MemorySegment) call(getTypeDeclaration, arena, type);
    }

    String typeSpelling(MemorySegment type) {
        return string((MemorySegment) call(getTypeSpelling, arena, type));
    }

    MemorySegment namedType(MemorySegment elaborated) {
        return (MemorySegment) call(typeGetNamedType, arena, elaborated);
    }

    /** {@code sizeof}, or a negative CXTypeLayoutError (e.g. -2 for an incomplete type). */
    long sizeOf(MemorySegment type) {
        return (long) call(typeGetSizeOf, type);
    }

    long alignOf(MemorySegment type) {
        return (long) call(typeGetAlignOf, type);
    }

    /** {@code offsetof(type, field)} in bits, or a negative CXTypeLayoutError. */
    long offsetOf(MemorySegment recordType, String field) {
        return (long) call(typeGetOffsetOf, recordType, arena.allocateFrom(field));
    }

    MemorySegment arrayElementType(MemorySegment type) {
        return (MemorySegment) call(getArrayElementType, arena, type);
    }

    long arraySize(MemorySegment type) {
        return (long) call(getArraySize, type);
    }

    MemorySegment resultType(MemorySegment functionType) {
        return (MemorySegment) call(getResultType, arena, functionType);
    }

    boolean isVariadic(MemorySegment functionType) {
        return (int) call(isFunctionTypeVariadic, functionType) != 0;
    }

    // ---- plumbing ----

    private String string(MemorySegment cxString) {
        MemorySegment chars = (MemorySegment) call(getCString, cxString);
        String s = chars.equals(MemorySegment.NULL) ? "" : chars.reinterpret(Long.MAX_VALUE).getString(0);
        call(disposeString, cxString);
        return s;
    }

    private static Object call(MethodHandle handle, Object... args) {
        try {
            return handle.invokeWithArguments(args);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }
}
