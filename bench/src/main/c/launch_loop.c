/*
 * launch_loop — the C floor for `offload bench launch`: how long cuLaunchKernel of an empty
 * kernel takes when called straight from C through the driver API, with nothing in between.
 * The Java rows (FFM, JCuda) are reported as a percentage above this figure.
 *
 *   build:  bench/src/main/c/build-launch-loop.sh (run by the bench module's build) or by hand:
 *           gcc -O2 -std=gnu11 -I/usr/local/cuda/include launch_loop.c -ldl -o launch_loop
 *   run:    launch_loop FATBIN [LAUNCHES [BATCH [ROUNDS [KERNEL]]]]
 *           defaults 100000 launches, batches of 512, 10 rounds, kernel o4j_empty
 *   prints: one line on stdout, e.g.
 *           launch_loop queued_us=2.104 sync_us=5.881 launches=100000 batch=512 rounds=10 device="NVIDIA H200"
 *           errors go to stderr as "launch_loop: ..." with exit status 1 (a CUDA call failed),
 *           2 (no driver library) or 64 (usage).
 *
 * libcuda is opened with dlopen rather than linked: a bare GPU host has libcuda.so.1 but often no
 * libcuda.so, and build machines have the CUDA headers but no driver (nor the toolkit's stub
 * library), so linking against it would fail there. Symbol names come from cuda.h's own macros
 * (cuStreamDestroy → cuStreamDestroy_v2), the same versioned entry points the FFM bindings use.
 *
 * Method (the same as the Java side's in LaunchCommand):
 *   queued — ROUNDS rounds of LAUNCHES/ROUNDS launches, issued in batches of BATCH with one
 *            cuStreamSynchronize per batch; µs per launch of each round, median over rounds.
 *            BATCH stays below the driver's launch queue depth (about a thousand entries), so the
 *            CPU cost of issuing is measured, not the GPU draining a full queue.
 *   sync   — each launch followed by cuStreamSynchronize: the round trip; median over rounds.
 * A warm-up of 2 * BATCH launches comes first. One non-blocking stream, primary context.
 */
#define _GNU_SOURCE
#include <cuda.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STR_(x) #x
#define STR(x) STR_(x)
/* p_cuX points at the entry point that cuda.h's macro for cuX names, typed by its prototype. */
#define DECLARE(fn) static __typeof__(&fn) p_##fn
#define LOAD(lib, fn)                                                                   \
    do {                                                                                \
        p_##fn = (__typeof__(&fn))dlsym(lib, STR(fn));                                  \
        if (p_##fn == NULL) {                                                           \
            fprintf(stderr, "launch_loop: the driver library has no %s\n", STR(fn));    \
            exit(2);                                                                    \
        }                                                                               \
    } while (0)

DECLARE(cuInit);
DECLARE(cuGetErrorName);
DECLARE(cuDeviceGet);
DECLARE(cuDeviceGetName);
DECLARE(cuDevicePrimaryCtxRetain);
DECLARE(cuDevicePrimaryCtxRelease);
DECLARE(cuCtxSetCurrent);
DECLARE(cuModuleLoadData);
DECLARE(cuModuleUnload);
DECLARE(cuModuleGetFunction);
DECLARE(cuStreamCreate);
DECLARE(cuStreamDestroy);
DECLARE(cuStreamSynchronize);
DECLARE(cuLaunchKernel);

static void check(CUresult r, const char *call) {
    if (r != CUDA_SUCCESS) {
        const char *name = NULL;
        if (p_cuGetErrorName == NULL || p_cuGetErrorName(r, &name) != CUDA_SUCCESS || name == NULL) {
            name = "unknown CUresult";
        }
        fprintf(stderr, "launch_loop: %s failed: %s (%d)\n", call, name, (int)r);
        exit(1);
    }
}
/* CHECK(cuX, args...) calls p_cuX and names cuX if it fails. */
#define CHECK(fn, ...) check(p_##fn(__VA_ARGS__), #fn)

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int compare_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof(double), compare_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "launch_loop: cannot open %s\n", path);
        exit(64);
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *data = malloc((size_t)size + 1);
    if (data == NULL || fread(data, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, "launch_loop: cannot read %s\n", path);
        exit(64);
    }
    data[size] = 0; /* a PTX image must end in NUL; a fatbin does not mind */
    fclose(f);
    return data;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: launch_loop FATBIN [LAUNCHES [BATCH [ROUNDS [KERNEL]]]]\n");
        return 64;
    }
    const char *fatbin = argv[1];
    int launches = argc > 2 ? atoi(argv[2]) : 100000;
    int batch = argc > 3 ? atoi(argv[3]) : 512;
    int rounds = argc > 4 ? atoi(argv[4]) : 10;
    const char *kernel = argc > 5 ? argv[5] : "o4j_empty";
    if (launches <= 0 || batch <= 0 || rounds <= 0 || launches / rounds < 1) {
        fprintf(stderr, "launch_loop: LAUNCHES, BATCH and ROUNDS must be positive, LAUNCHES >= ROUNDS\n");
        return 64;
    }
    int per_round = launches / rounds;

    void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        fprintf(stderr, "launch_loop: cannot load libcuda.so.1 (the NVIDIA driver): %s\n", dlerror());
        return 2;
    }
    LOAD(lib, cuInit);
    LOAD(lib, cuGetErrorName);
    LOAD(lib, cuDeviceGet);
    LOAD(lib, cuDeviceGetName);
    LOAD(lib, cuDevicePrimaryCtxRetain);
    LOAD(lib, cuDevicePrimaryCtxRelease);
    LOAD(lib, cuCtxSetCurrent);
    LOAD(lib, cuModuleLoadData);
    LOAD(lib, cuModuleUnload);
    LOAD(lib, cuModuleGetFunction);
    LOAD(lib, cuStreamCreate);
    LOAD(lib, cuStreamDestroy);
    LOAD(lib, cuStreamSynchronize);
    LOAD(lib, cuLaunchKernel);

    CUdevice dev;
    CUcontext ctx;
    CUmodule mod;
    CUfunction fn;
    CUstream stream;
    char name[256];
    void *image = read_file(fatbin);
    CHECK(cuInit, 0);
    CHECK(cuDeviceGet, &dev, 0);
    CHECK(cuDeviceGetName, name, sizeof name, dev);
    CHECK(cuDevicePrimaryCtxRetain, &ctx, dev);
    CHECK(cuCtxSetCurrent, ctx);
    CHECK(cuModuleLoadData, &mod, image);
    CHECK(cuModuleGetFunction, &fn, mod, kernel);
    CHECK(cuStreamCreate, &stream, CU_STREAM_NON_BLOCKING);

    for (int i = 0; i < 2 * batch; i++) {
        CHECK(cuLaunchKernel, fn, 1, 1, 1, 1, 1, 1, 0, stream, NULL, NULL);
    }
    CHECK(cuStreamSynchronize, stream);

    double *queued = malloc(sizeof(double) * (size_t)rounds);
    double *sync = malloc(sizeof(double) * (size_t)rounds);
    for (int r = 0; r < rounds; r++) {
        double t0 = now_us();
        for (int done = 0; done < per_round;) {
            int n = per_round - done < batch ? per_round - done : batch;
            for (int i = 0; i < n; i++) {
                CHECK(cuLaunchKernel, fn, 1, 1, 1, 1, 1, 1, 0, stream, NULL, NULL);
            }
            CHECK(cuStreamSynchronize, stream);
            done += n;
        }
        queued[r] = (now_us() - t0) / per_round;
    }
    for (int r = 0; r < rounds; r++) {
        /* The round trip is slower: a tenth as many, at least one. */
        int n = per_round / 10 > 0 ? per_round / 10 : 1;
        double t0 = now_us();
        for (int i = 0; i < n; i++) {
            CHECK(cuLaunchKernel, fn, 1, 1, 1, 1, 1, 1, 0, stream, NULL, NULL);
            CHECK(cuStreamSynchronize, stream);
        }
        sync[r] = (now_us() - t0) / n;
    }
    printf("launch_loop queued_us=%.3f sync_us=%.3f launches=%d batch=%d rounds=%d device=\"%s\"\n",
           median(queued, rounds), median(sync, rounds), launches, batch, rounds, name);

    CHECK(cuStreamDestroy, stream);
    CHECK(cuModuleUnload, mod);
    CHECK(cuDevicePrimaryCtxRelease, dev);
    free(queued);
    free(sync);
    free(image);
    return 0;
}
