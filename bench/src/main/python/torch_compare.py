#!/usr/bin/env python3
"""torch_compare.py: times PyTorch's nearest equivalent of offload4j's benchmark cases.

Run by `offload bench --compare torch` (the bench jar carries this file and extracts it; the
bundle also has a copy in python/). Reads one JSON object on stdin:

  {"device": "cuda" | "cpu",
   "cases": [{"id": 0, "op": "hadamard", "dtype": "bf16", "rows": 32768, "d": 1024},
             {"id": 1, "op": "w4a16", "dtype": "bf16", "m": 1, "n": 4096, "k": 4096, "group": 128},
             {"id": 2, "op": "attention", "dtype": "bf16", "batch": 1, "hq": 8, "hkv": 2,
              "sq": 1024, "skv": 1024, "d": 128, "causal": true},
             {"id": 3, "op": "moe", "dtype": "bf16", "tokens": 256, "experts": 8, "top_k": 2,
              "d_model": 1024, "d_ff": 2816, "int4": false}]}

and prints one JSON object on stdout:

  {"torch": "2.11.0", "device": "NVIDIA H200",
   "results": [{"id": 0, "variants": [{"name": "x @ H", "median_ns": 41000.0}], "note": null}, ...]}

or {"unavailable": "<one short reason>"} when there is no torch or no CUDA device (exit 0).

What is timed (each op as PyTorch users would write it, not a re-implementation of ours):
  hadamard   x @ H, H the d x d Hadamard matrix built once (Sylvester for 2^k; for m*2^k a
             +-1 matrix of the same size stands in: the GEMM's time does not depend on the values)
  w4a16      "dequant+mm": GPTQ int4 unpacked, (q - z) * s, then x @ W, every call;
             "bf16 mm": x @ W with W already dense bf16 (4x the weight bytes)
  attention  scaled_dot_product_attention in bf16 (ours is FP8); GQA by enable_gqa, causal
             bottom-right aligned like ours
  moe        the whole layer (router, softmax top-k, renormalize, permute, SwiGLU experts,
             weighted combine): "grouped_mm" with torch._grouped_mm where this torch has it,
             "loop" with one matmul pair per expert; int4 cases run bf16 experts (noted)

Timing: CUDA events around each call after a warm-up, median of the runs; inputs rotated among
enough copies to exceed twice the L2 cache; random normal data, never zeros. On "cpu":
time.perf_counter_ns around each call.
"""
import json
import math
import sys
import time

WARMUP_S = 0.05
MEASURE_S = 0.2
MIN_RUNS = 10
MAX_RUNS = 200
MAX_COPIES = 16


def emit(obj):
    json.dump(obj, sys.stdout)
    sys.stdout.write("\n")
    sys.stdout.flush()


def main():
    try:
        req = json.load(sys.stdin)
    except ValueError as e:
        emit({"unavailable": "bad request: %s" % e})
        return 2
    try:
        import torch
    except Exception:
        emit({"unavailable": "python3 has no torch"})
        return 0
    dev = req.get("device", "cuda")
    if dev == "cuda" and not torch.cuda.is_available():
        emit({"unavailable": "torch %s sees no CUDA device" % torch.__version__})
        return 0
    cmp = Compare(torch, dev)
    results = []
    for case in req.get("cases", []):
        variants, notes = [], []
        try:
            runner = getattr(cmp, "op_" + case["op"], None)
            if runner is None:
                notes.append("no torch equivalent of op " + case["op"])
            else:
                runner(case, variants, notes)
        except Exception as e:  # one case's failure (OOM, unsupported shape) must not lose the others
            notes.append(("%s: %s" % (type(e).__name__, e)).splitlines()[0][:160])
        finally:
            try:
                cmp.release()
            except Exception as e:  # after a sticky CUDA error: keep the cases already timed
                notes.append(("release: %s: %s" % (type(e).__name__, e)).splitlines()[0][:160])
        results.append({"id": case.get("id"), "variants": variants,
                        "note": "; ".join(notes) if notes else None})
    name = torch.cuda.get_device_name(0) if dev == "cuda" else "cpu (%d threads)" % torch.get_num_threads()
    emit({"torch": torch.__version__, "device": name, "results": results})
    return 0


class Compare:
    def __init__(self, torch, dev):
        self.torch = torch
        self.dev = dev
        self.gen = torch.Generator(device=dev)
        self.gen.manual_seed(42)
        l2 = 0
        if dev == "cuda":
            l2 = getattr(torch.cuda.get_device_properties(0), "L2_cache_size", 0)
        self.l2 = l2 or (64 << 20)

    def release(self):
        if self.dev == "cuda":
            self.torch.cuda.synchronize()
            self.torch.cuda.empty_cache()

    def dtype(self, name):
        t = self.torch
        return {"bf16": t.bfloat16, "fp16": t.float16, "fp32": t.float32}[name.lower()]

    def randn(self, *shape, dtype=None, scale=1.0):
        t = self.torch
        x = t.randn(*shape, generator=self.gen, device=self.dev, dtype=t.float32)
        if scale != 1.0:
            x.mul_(scale)
        return x.to(dtype or t.bfloat16)

    def copies(self, bytes_per_set):
        """How many input sets to rotate through so that one pass exceeds twice the L2 cache."""
        return max(1, min(MAX_COPIES, math.ceil(2 * self.l2 / max(1, bytes_per_set))))

    def time(self, fn, sets):
        """Median nanoseconds of fn(i % sets) after a warm-up."""
        t = self.torch
        i = 0
        start = time.perf_counter()
        while i < 3 or time.perf_counter() - start < WARMUP_S:
            fn(i % sets)
            i += 1
            if self.dev == "cuda":
                t.cuda.synchronize()
        samples = []
        if self.dev == "cuda":
            events = []
            start = time.perf_counter()
            while len(events) < MAX_RUNS and (len(events) < MIN_RUNS or time.perf_counter() - start < MEASURE_S):
                a = t.cuda.Event(enable_timing=True)
                b = t.cuda.Event(enable_timing=True)
                a.record()
                fn(i % sets)
                b.record()
                events.append((a, b))
                i += 1
            t.cuda.synchronize()
            samples = [a.elapsed_time(b) * 1e6 for a, b in events]
        else:
            start = time.perf_counter()
            while len(samples) < MAX_RUNS and (len(samples) < MIN_RUNS or time.perf_counter() - start < MEASURE_S):
                t0 = time.perf_counter_ns()
                fn(i % sets)
                samples.append(float(time.perf_counter_ns() - t0))
                i += 1
        samples.sort()
        n = len(samples)
        return samples[n // 2] if n % 2 else (samples[n // 2 - 1] + samples[n // 2]) / 2

    # ---- Hadamard: x @ H -------------------------------------------------------------------
    def hadamard_matrix(self, d, dtype):
        t = self.torch
        if d & (d - 1) == 0:
            h = t.ones(1, 1, device=self.dev)
            base = t.tensor([[1.0, 1.0], [1.0, -1.0]], device=self.dev)
            while h.shape[0] < d:
                h = t.kron(h, base)
            exact = True
        else:
            h = t.where(t.rand(d, d, generator=self.gen, device=self.dev) < 0.5, -1.0, 1.0)
            exact = False
        return (h / math.sqrt(d)).to(dtype), exact

    def op_hadamard(self, c, variants, notes):
        dt = self.dtype(c["dtype"])
        rows, d = c["rows"], c["d"]
        h, exact = self.hadamard_matrix(d, dt)
        if not exact:
            notes.append("H: a +-1 stand-in of the same size (m*2^k)")
        n = self.copies(rows * d * h.element_size())
        xs = [self.randn(rows, d, dtype=dt) for _ in range(n)]
        y = self.torch.empty(rows, d, device=self.dev, dtype=dt)
        variants.append({"name": "x @ H", "median_ns": self.time(lambda i: self.torch.matmul(xs[i], h, out=y), n)})

    # ---- W4A16 -----------------------------------------------------------------------------
    def op_w4a16(self, c, variants, notes):
        t = self.torch
        dt = self.dtype(c["dtype"])
        m, n, k = c["m"], c["n"], c["k"]
        g = c.get("group", 128)
        g = k if g is None or g <= 0 else g
        groups = k // g
        weight_bytes = k * n // 2 + groups * n * 2 + groups * n // 2
        sets = self.copies(weight_bytes)
        shifts = t.arange(0, 32, 4, device=self.dev, dtype=t.int32)

        def packed(rows, cols):  # int32 words of 8 random nibbles
            return t.randint(-2**31, 2**31 - 1, (rows, cols), generator=self.gen, device=self.dev, dtype=t.int32)

        qweights = [packed(k // 8, n) for _ in range(sets)]
        qzeros = [packed(groups, n // 8) for _ in range(sets)]
        scales = [(0.004 + 0.004 * t.rand(groups, n, generator=self.gen, device=self.dev)).to(t.float16)
                  for _ in range(sets)]
        x = self.randn(m, k, dtype=dt)

        def dequant_mm(i):
            q = ((qweights[i].unsqueeze(1) >> shifts.view(1, 8, 1)) & 0xF).reshape(k, n)
            z = ((qzeros[i].unsqueeze(2) >> shifts.view(1, 1, 8)) & 0xF).reshape(groups, n)
            w = ((q.view(groups, g, n) - z.unsqueeze(1)).to(dt) * scales[i].to(dt).unsqueeze(1)).reshape(k, n)
            return x @ w

        variants.append({"name": "dequant+mm", "median_ns": self.time(dequant_mm, sets)})
        del qweights, qzeros, scales
        dense_sets = self.copies(k * n * 2)
        ws = [self.randn(k, n, dtype=dt, scale=0.02) for _ in range(dense_sets)]
        y = t.empty(m, n, device=self.dev, dtype=dt)
        variants.append({"name": "bf16 mm" if dt == t.bfloat16 else "fp16 mm",
                         "median_ns": self.time(lambda i: t.matmul(x, ws[i], out=y), dense_sets)})

    # ---- attention -------------------------------------------------------------------------
    def op_attention(self, c, variants, notes):
        t = self.torch
        F = t.nn.functional
        b, hq, hkv, sq, skv, d = c.get("batch", 1), c["hq"], c["hkv"], c["sq"], c["skv"], c["d"]
        causal = bool(c.get("causal"))
        per_set = 2 * (b * hq * sq * d + 2 * b * hkv * skv * d)
        n = self.copies(per_set)
        qs = [self.randn(b, hq, sq, d) for _ in range(n)]
        ks = [self.randn(b, hkv, skv, d) for _ in range(n)]
        vs = [self.randn(b, hkv, skv, d) for _ in range(n)]
        kwargs = {}
        if hq != hkv:
            kwargs["enable_gqa"] = True
        if causal and sq == skv:
            kwargs["is_causal"] = True
        elif causal:
            from torch.nn.attention.bias import causal_lower_right  # bottom-right, like ours
            kwargs["attn_mask"] = causal_lower_right(sq, skv)
        notes.append("bf16 inputs (ours: FP8 E4M3)")
        variants.append({"name": "sdpa bf16", "median_ns": self.time(
            lambda i: F.scaled_dot_product_attention(qs[i], ks[i], vs[i], **kwargs), n)})

    # ---- MoE -------------------------------------------------------------------------------
    def op_moe(self, c, variants, notes):
        t = self.torch
        T, E, K, dm, dff = c["tokens"], c["experts"], c["top_k"], c["d_model"], c["d_ff"]
        if c.get("int4"):
            notes.append("torch runs bf16 experts (no int4 path)")
        bf = t.bfloat16
        # One-token calls rotate through 16 inputs, as the Java bench does (MoeSuite): with one
        # input every call would route to the same experts and read them from L2.
        sets = MAX_COPIES if T == 1 else 1
        xs_all = [self.randn(T, dm) for _ in range(sets)]
        wr = self.randn(dm, E, scale=dm ** -0.5)
        w1 = self.randn(E, dm, 2 * dff, scale=dm ** -0.5)
        w2 = self.randn(E, dff, dm, scale=dff ** -0.5)
        out = t.empty(T, dm, device=self.dev, dtype=bf)

        def route(x):
            logits = (x @ wr).float()
            w, e = t.topk(t.softmax(logits, dim=-1), K, dim=-1)
            w = w / w.sum(dim=-1, keepdim=True)
            flat = e.reshape(-1)
            order = t.argsort(flat, stable=True)
            token = order // K
            counts = t.bincount(flat, minlength=E)
            return w.reshape(-1)[order], token, counts

        def combine(y, weight, token):
            out.zero_()
            out.index_add_(0, token, (y.float() * weight.unsqueeze(1)).to(bf))

        def swiglu(h):
            gate, up = h[:, :dff], h[:, dff:]
            return (t.nn.functional.silu(gate.float()) * up.float()).to(bf)

        def loop(i):
            x = xs_all[i]
            weight, token, counts = route(x)
            xs = x[token]
            y = t.empty(T * K, dm, device=self.dev, dtype=bf)
            start = 0
            for e_, cnt in enumerate(counts.tolist()):
                if cnt:
                    y[start:start + cnt] = swiglu(xs[start:start + cnt] @ w1[e_]) @ w2[e_]
                    start += cnt
            combine(y, weight, token)

        gm = getattr(t, "_grouped_mm", None)
        if gm is None:
            notes.append("this torch has no torch._grouped_mm")
        else:
            def grouped_with(b1, b2):
                def grouped(i):
                    x = xs_all[i]
                    weight, token, counts = route(x)
                    offs = t.cumsum(counts, 0).to(t.int32)
                    h = gm(x[token], b1, offs=offs)
                    y = gm(swiglu(h), b2, offs=offs)
                    combine(y, weight, token)
                return grouped
            # Some builds want each expert's matrix column-major (stride 1 along K): try both layouts.
            col = lambda w: w.transpose(-2, -1).contiguous().transpose(-2, -1)
            errors = []
            for label, b1, b2 in (("", w1, w2), (" (column-major experts)", None, None)):
                try:
                    if b1 is None:
                        b1, b2 = col(w1), col(w2)
                    variants.append({"name": "grouped_mm" + label, "median_ns": self.time(grouped_with(b1, b2), sets)})
                    break
                except Exception as e:
                    errors.append(("%s: %s" % (type(e).__name__, e)).splitlines()[0][:120])
            else:
                notes.append("grouped_mm failed: " + "; ".join(errors))
        variants.append({"name": "loop", "median_ns": self.time(loop, sets)})


if __name__ == "__main__":
    sys.exit(main())
