"""``npconv bench``: time npconv's operators on real layer shapes, against PyTorch and a textbook baseline.

For each case: forward and forward+backward time (median of ``--repeat`` runs
after a warm-up), GFLOP/s, the time ratio to PyTorch CPU with the same
thread count (when torch is installed), and for the dense convolutions the
products floor: the time ``np.matmul`` needs for the same three products on
operands already laid out (:func:`_products_floor`), the limit of any NumPy
engine, with npconv's and torch's ratios to it.  npconv, torch and the floor
run in alternating blocks, and each ratio is the median of the per-round
ratios, with their range.  Then the ratio to the textbook method
(fancy-index im2col + ``np.add.at`` col2im, written here), and the peak extra
memory of npconv's forward+backward under ``tracemalloc``.
"""

from __future__ import annotations

import json
import os
import threading
import time
import tracemalloc
from dataclasses import dataclass

import numpy as np

import npconv


@dataclass(frozen=True)
class Case:
    name: str
    kind: str  # "conv", "conv_transpose", "max_pool", "avg_pool"
    input_shape: tuple
    out_channels: int = 0
    kernel: int = 3
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    groups: int = 1


SUITE = (
    Case("LeNet 5x5", "conv", (64, 1, 28, 28), 6, 5),
    Case("mean filter 5x5", "conv", (64, 1, 64, 64), 1, 5, padding=2),
    Case("mean filter 15x15", "conv", (64, 1, 128, 128), 1, 15),
    Case("CIFAR 3x3", "conv", (32, 64, 32, 32), 64, 3, padding=1),
    Case("ResNet 3x3", "conv", (8, 128, 28, 28), 128, 3, padding=1),
    Case("3x3 stride 2", "conv", (16, 64, 56, 56), 128, 3, stride=2, padding=1),
    Case("1x1", "conv", (16, 256, 28, 28), 64, 1),
    Case("7x7 stem", "conv", (8, 3, 224, 224), 64, 7, stride=2, padding=3),
    Case("dilated 3x3", "conv", (8, 64, 64, 64), 64, 3, padding=2, dilation=2),
    Case("depthwise 3x3", "conv", (16, 128, 56, 56), 128, 3, padding=1, groups=128),
    Case("transposed 4x4/2", "conv_transpose", (16, 64, 28, 28), 32, 4, stride=2, padding=1),
    Case("max pool 2x2/2", "max_pool", (32, 64, 56, 56), kernel=2, stride=2),
    Case("max pool 3x3/2 pad 1", "max_pool", (32, 64, 56, 56), kernel=3, stride=2, padding=1),
    Case("max pool 3x3/1", "max_pool", (32, 64, 56, 56), kernel=3, stride=1),
    Case("avg pool 2x2/2", "avg_pool", (32, 64, 56, 56), kernel=2, stride=2),
    Case("avg pool 3x3/2 pad 1", "avg_pool", (32, 64, 56, 56), kernel=3, stride=2, padding=1),
    Case("avg pool 3x3/1", "avg_pool", (32, 64, 56, 56), kernel=3, stride=1),
)


def _arrays(case, rng):
    x = rng.standard_normal(case.input_shape).astype(np.float32)
    channels = case.input_shape[1]
    if case.kind == "conv":
        w = rng.standard_normal((case.out_channels, channels // case.groups, case.kernel,
                                 case.kernel)).astype(np.float32)
    elif case.kind == "conv_transpose":
        w = rng.standard_normal((channels, case.out_channels // case.groups, case.kernel,
                                 case.kernel)).astype(np.float32)
    else:
        w = None
    return x, w


def _npconv_step(case, x, w):
    """forward, and forward+backward, as closures over npconv."""
    if case.kind in ("conv", "conv_transpose"):
        args = dict(stride=case.stride, padding=case.padding, dilation=case.dilation,
                    groups=case.groups)
        forward = getattr(npconv, f"{case.kind}2d")
        backward = getattr(npconv, f"{case.kind}2d_backward")
        y = forward(x, w, **args)
        gy = np.ones_like(y)
        return (lambda: forward(x, w, **args),
                lambda: (forward(x, w, **args), backward(gy, x, w, **args)))
    args = dict(kernel_size=case.kernel, stride=case.stride, padding=case.padding)
    if case.kind == "max_pool":
        values, _ = npconv.max_pool2d(x, return_indices=True, **args)
        gy = np.ones_like(values)

        def both():
            _, indices = npconv.max_pool2d(x, return_indices=True, **args)
            return npconv.max_pool2d_backward(gy, x, indices=indices, **args)
        return lambda: npconv.max_pool2d(x, return_indices=True, **args), both
    gy = np.ones_like(npconv.avg_pool2d(x, **args))
    return (lambda: npconv.avg_pool2d(x, **args),
            lambda: (npconv.avg_pool2d(x, **args), npconv.avg_pool2d_backward(gy, x, **args)))


def _torch_step(case, x, w, torch):
    F = torch.nn.functional
    tx = torch.tensor(x, requires_grad=True)
    if case.kind in ("conv", "conv_transpose"):
        tw = torch.tensor(w, requires_grad=True)
        args = dict(stride=case.stride, padding=case.padding, dilation=case.dilation,
                    groups=case.groups)
        op = F.conv2d if case.kind == "conv" else F.conv_transpose2d

        def call():
            return op(tx, tw, **args)
    else:
        args = dict(kernel_size=case.kernel, stride=case.stride, padding=case.padding)

        def call():
            return F.max_pool2d(tx, **args) if case.kind == "max_pool" else F.avg_pool2d(tx, **args)
    gy = torch.ones_like(call())

    def forward():
        with torch.no_grad():
            return call()

    def both():
        tx.grad = None
        call().backward(gy)
    return forward, both


# --- the products floor ----------------------------------------------------------------

#: The layers whose forward+backward is three matrix products (the GEMM layers of the targets).
GEMM_LAYERS = ("CIFAR 3x3", "ResNet 3x3", "3x3 stride 2", "1x1", "7x7 stem", "dilated 3x3")


def _products_floor(case, rng):
    """The three products of a (transposed) convolution's forward+backward, on operands laid out.

    The limit of any NumPy engine: ``np.matmul`` of the weight and the
    columns (forward), of the output gradient and the columns (weight
    gradient), and of the weight and the output gradient (input-gradient
    columns), each one product on contiguous operands, into arrays
    allocated beforehand.  For a transposed convolution the same three
    products, of the convolution it is the adjoint of.  None for grouped
    convolutions (their products are per group).
    """
    if case.kind not in ("conv", "conv_transpose") or case.groups != 1:
        return None
    n, channels, height, width = case.input_shape
    if case.kind == "conv":
        out = [(size + 2 * case.padding - case.dilation * (case.kernel - 1) - 1) // case.stride
               + 1 for size in (height, width)]
        rows, kernels = case.out_channels, channels * case.kernel ** 2
        cells = n * out[0] * out[1]
    else:  # the convolution whose input gradient this is maps its output to its input
        rows, kernels = channels, case.out_channels * case.kernel ** 2
        cells = n * height * width
    weight = rng.standard_normal((rows, kernels)).astype(np.float32)
    columns = rng.standard_normal((kernels, cells)).astype(np.float32)
    grad = rng.standard_normal((rows, cells)).astype(np.float32)
    results = (np.empty((rows, cells), np.float32), np.empty((rows, kernels), np.float32),
               np.empty((kernels, cells), np.float32))

    def products():
        np.matmul(weight, columns, out=results[0])
        np.matmul(grad, columns.T, out=results[1])
        np.matmul(weight.T, grad, out=results[2])
    return products


# --- the textbook method ---------------------------------------------------------------

def _textbook_indices(shape, kernel, stride, padding, dilation):
    n, c, h, w = shape
    out_h = (h + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1
    out_w = (w + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1
    i0 = np.repeat(np.arange(kernel) * dilation, kernel)
    i0 = np.tile(i0, c)
    i1 = stride * np.repeat(np.arange(out_h), out_w)
    j0 = np.tile(np.arange(kernel) * dilation, kernel * c)
    j1 = stride * np.tile(np.arange(out_w), out_h)
    rows = i0.reshape(-1, 1) + i1.reshape(1, -1)
    cols = j0.reshape(-1, 1) + j1.reshape(1, -1)
    chans = np.repeat(np.arange(c), kernel * kernel).reshape(-1, 1)
    return chans, rows, cols, out_h, out_w


def _textbook_fits(case, limit=512 * 2**20):
    """Whether the textbook method's column array stays under ``limit`` bytes."""
    n, channels, height, width = case.input_shape
    return n * channels * case.kernel ** 2 * height * width * 4 <= limit


def _textbook_conv(case, x, w):
    """Fancy-index im2col, one GEMM, ``np.add.at`` col2im (dense convolutions only)."""
    pad = case.padding
    chans, rows, cols, out_h, out_w = _textbook_indices(x.shape, case.kernel, case.stride, pad,
                                                        case.dilation)
    n = x.shape[0]
    w_mat = w.reshape(w.shape[0], -1)

    def forward():
        padded = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
        columns = padded[:, chans, rows, cols]  # (N, C*k*k, L)
        return np.matmul(w_mat, columns).reshape(n, -1, out_h, out_w), columns

    def both():
        y, columns = forward()
        gy = np.ones_like(y).reshape(n, w.shape[0], -1)
        grad_w = np.einsum("nkl,ncl->kc", gy, columns)
        grad_columns = np.matmul(w_mat.T, gy)
        grad_padded = np.zeros((n, x.shape[1], x.shape[2] + 2 * pad, x.shape[3] + 2 * pad),
                               x.dtype)
        np.add.at(grad_padded, (slice(None), chans, rows, cols), grad_columns)
        return grad_padded[:, :, pad:pad + x.shape[2], pad:pad + x.shape[3]], grad_w
    return (lambda: forward()[0]), both


# --- timing ------------------------------------------------------------------------------

def median_time(function, repeat):
    """Median wall time of ``repeat`` calls of ``function`` after one warm-up call."""
    function()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


#: Seconds to wait before each timed block of :func:`interleaved_times`.
#: OpenBLAS's worker threads spin for about 0.1 s after a matrix product
#: (its ``OPENBLAS_THREAD_TIMEOUT``) and OpenMP's for a while after a
#: parallel region, taking a core from whatever runs next: measured, torch's
#: forward of the ResNet layer took 33 ms right after a NumPy product and
#: 7.2 ms 0.15 s later (8 calls each, medians).
SETTLE_S = 0.15


def interleaved_times(functions, rounds, block=3, settle=SETTLE_S):
    """Time several functions in alternating blocks; returns, per function, the best time of each round.

    Each round calls every function ``block`` times in a row and keeps the
    fastest call.  Alternating blocks lets every function see the same
    drift in the machine's speed; waiting ``settle`` seconds before each
    block lets the threads of the previous block's library go idle, so
    that they do not spin into the next one's timed calls.
    """
    for function in functions:
        function()
    best = [[] for _ in functions]
    for _ in range(rounds):
        for function, times in zip(functions, best):
            time.sleep(settle)
            calls = []
            for _ in range(block):
                start = time.perf_counter()
                function()
                calls.append(time.perf_counter() - start)
            times.append(min(calls))
    return best


def product_time(function, repeat):
    """Median wall time that ``function`` spends in ``np.matmul`` calls made from the calling thread.

    ``np.matmul`` is replaced by a timing wrapper for ``repeat`` calls of
    ``function`` (after one warm-up call) and restored afterwards.  Products
    that run on npconv's thread pool (the depthwise weight gradient's dot
    products) are not counted.
    """
    caller = threading.get_ident()
    matmul = np.matmul
    spent = [0.0]

    def timed_matmul(*args, **kwargs):
        if threading.get_ident() != caller:
            return matmul(*args, **kwargs)
        start = time.perf_counter()
        try:
            return matmul(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - start

    function()
    times = []
    np.matmul = timed_matmul
    try:
        for _ in range(repeat):
            spent[0] = 0.0
            function()
            times.append(spent[0])
    finally:
        np.matmul = matmul
    return float(np.median(times))


def matmul_rate(size=2048, repeat=3):
    """float32 ``np.matmul`` GFLOP/s on ``size``-square matrices."""
    a = np.random.default_rng(0).standard_normal((size, size)).astype(np.float32)
    return 2 * size ** 3 / median_time(lambda: a @ a, repeat) / 1e9


def flops(case):
    """Multiply-adds x 2 of forward (x 3 for forward+backward of convolutions)."""
    if case.kind not in ("conv", "conv_transpose"):
        return 0
    x_shape = case.input_shape
    window = (case.kernel ** 2) * (x_shape[1] // case.groups if case.kind == "conv"
                                   else case.out_channels // case.groups)
    if case.kind == "conv":
        size = [(s + 2 * case.padding - case.dilation * (case.kernel - 1) - 1) // case.stride + 1
                for s in x_shape[2:]]
        return 2 * x_shape[0] * case.out_channels * size[0] * size[1] * window
    return 2 * x_shape[0] * x_shape[1] * x_shape[2] * x_shape[3] * window


def peak_memory(function):
    """Peak bytes allocated by ``function``, counting the scratch memory it (re)allocates."""
    npconv.release_scratch()
    tracemalloc.start()
    try:
        function()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def algorithm_times(cases=SUITE, repeat=5, report=print):
    """Forward+backward time of every convolution algorithm on the convolution ``cases``.

    The algorithms are timed in alternating calls, ``repeat`` rounds; returns
    one dict per case with the median seconds of each (``auto`` included).
    """
    rng = np.random.default_rng(0)
    names = ("im2col", "direct", "fft", "auto")
    results = []
    for case in cases:
        if case.kind not in ("conv", "conv_transpose"):
            continue
        x, w = _arrays(case, rng)
        _, both = _npconv_step(case, x, w)

        def under(name):
            def call():
                with npconv.conv_algorithm(name):
                    both()
            return call
        times = interleaved_times([under(name) for name in names], repeat)
        record = dict(name=case.name, **{name: float(np.median(t)) for name, t in zip(names, times)})
        results.append(record)
        fastest = min(names[:-1], key=record.get)
        report(f"{case.name:<22} " + " ".join(f"{record[name] * 1e3:8.1f}" for name in names)
               + f"  {fastest}")
    return results


def run(cases=SUITE, repeat=5, threads=None, torch=None, textbook=True, report=print):
    """Benchmark ``cases``; returns one dict per case (times in seconds, memory in bytes)."""
    rate = matmul_rate()
    report(f"float32 matmul: {rate:.0f} GFLOP/s")
    if torch is not None and threads:
        torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    results = []
    for case in cases:
        x, w = _arrays(case, rng)
        forward, both = _npconv_step(case, x, w)
        floor = _products_floor(case, rng)
        record = dict(name=case.name, kind=case.kind, input_shape=case.input_shape)
        t_forward, t_both = _torch_step(case, x, w, torch) if torch is not None else (None, None)
        for key, ours, theirs, bound in (("forward", forward, t_forward, None),
                                         ("forward_backward", both, t_both, floor)):
            # npconv, torch and the floor in alternating blocks: each round's ratios see the
            # same machine
            functions = [f for f in (ours, theirs, bound) if f is not None]
            times = dict(zip([name for name, f in (("npconv", ours), ("torch", theirs),
                                                   ("floor", bound)) if f is not None],
                             interleaved_times(functions, repeat)))
            record[f"{key}_s"] = float(np.median(times["npconv"]))
            if "torch" in times:
                record[f"torch_{key}_s"] = float(np.median(times["torch"]))
                _ratio(record, f"{key}_ratio_to_torch", times["npconv"], times["torch"])
            if "floor" in times:
                record["floor_s"] = float(np.median(times["floor"]))
                _ratio(record, "ratio_to_floor", times["npconv"], times["floor"])
                if "torch" in times:
                    _ratio(record, "torch_ratio_to_floor", times["torch"], times["floor"])
        if torch is not None:
            record["ratio_to_torch"] = record["forward_backward_ratio_to_torch"]
        if case.kind in ("conv", "conv_transpose") and case.groups == 1:
            record["products_s"] = product_time(both, repeat)  # npconv's own time in np.matmul
        work = 3 * flops(case)
        record["gflops"] = work / record["forward_backward_s"] / 1e9 if work else None
        record["percent_of_matmul"] = 100 * record["gflops"] / rate if work else None
        if textbook and case.kind == "conv" and case.groups == 1 and _textbook_fits(case):
            _, textbook_both = _textbook_conv(case, x, w)
            record["textbook_forward_backward_s"] = median_time(textbook_both, max(1, repeat // 2))
            record["speedup_over_textbook"] = (record["textbook_forward_backward_s"]
                                               / record["forward_backward_s"])
        record["peak_memory_bytes"] = peak_memory(both)
        results.append(record)
        report(format_row(record))
    return results


def _ratio(record, key, numerators, denominators):
    """The median of the per-round ratios under ``key``, their range under ``key + '_range'``."""
    ratios = np.divide(numerators, denominators)
    record[key] = float(np.median(ratios))
    record[f"{key}_range"] = (float(ratios.min()), float(ratios.max()))


def floor_summary(results):
    """The line on the GEMM layers: npconv's and torch's median and worst ratio to the floor."""
    gemm = [r for r in results if r["name"] in GEMM_LAYERS and r.get("ratio_to_floor")]
    if not gemm:
        return None
    ours = [r["ratio_to_floor"] for r in gemm]
    line = (f"GEMM layers ({len(gemm)}): npconv/floor median {np.median(ours):.2f}x "
            f"(worst {max(ours):.2f}x)")
    theirs = [r["torch_ratio_to_floor"] for r in gemm if r.get("torch_ratio_to_floor")]
    if theirs:
        line += f", torch/floor median {np.median(theirs):.2f}x (worst {max(theirs):.2f}x)"
    return line


def format_row(record):
    def number(key, width, spec, scale=1.0, suffix=""):
        value = record.get(key)
        text = "-" if value is None else f"{value * scale:{spec}}{suffix}"
        return text.rjust(width)
    def spread(key):
        pair = record.get(f"{key}_range")
        return ("-" if pair is None else f"{pair[0]:.2f}-{pair[1]:.2f}").rjust(9)
    return " ".join([
        f"{record['name']:<22}", number("forward_s", 8, ".1f", 1e3),
        number("forward_backward_s", 8, ".1f", 1e3), number("gflops", 7, ".1f"),
        number("forward_ratio_to_torch", 7, ".2f", suffix="x"),
        number("ratio_to_torch", 7, ".2f", suffix="x"), spread("forward_backward_ratio_to_torch"),
        number("floor_s", 8, ".1f", 1e3), number("ratio_to_floor", 7, ".2f", suffix="x"),
        spread("ratio_to_floor"), number("torch_ratio_to_floor", 7, ".2f", suffix="x"),
        number("speedup_over_textbook", 7, ".1f", suffix="x"),
        number("peak_memory_bytes", 8, ".1f", 2 ** -20)])


HEADER = (f"{'case':<22} {'fwd ms':>8} {'f+b ms':>8} {'GFLOP/s':>7} {'fwd/t':>7} {'f+b/t':>7} "
          f"{'f+b/t rng':>9} {'floor ms':>8} {'np/fl':>7} {'np/fl rng':>9} {'t/fl':>7} "
          f"{'/textbk':>7} {'peak MiB':>8}")


#: Thread-count getters of the BLAS libraries NumPy may be linked with, by symbol name.
_BLAS_THREAD_GETTERS = ("scipy_openblas_get_num_threads64_", "scipy_openblas_get_num_threads",
                        "openblas_get_num_threads64_", "openblas_get_num_threads",
                        "MKL_Get_Max_Threads", "bli_thread_get_num_threads")


def blas_threads():
    """``(library file, threads)`` of the BLAS that NumPy runs its products on, asked of the
    library itself, or None where it cannot be found (not on Linux, an unknown BLAS)."""
    import ctypes

    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "blas" in line.lower()
                     or "mkl" in line.lower()}
    except OSError:
        return None
    for path in sorted(paths):
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for symbol in _BLAS_THREAD_GETTERS:
            getter = getattr(library, symbol, None)
            if getter is not None:
                getter.restype = ctypes.c_int
                return os.path.basename(path), int(getter())
    return None


def _blas_description():
    found = blas_threads()
    return "BLAS threads unknown" if found is None else f"{found[1]} BLAS threads ({found[0]})"


def add_arguments(parser, positive_int=int):
    parser.add_argument("--repeat", type=positive_int, default=5,
                        help="timed runs per case (median)")
    parser.add_argument("--only", metavar="TEXT", help="cases whose name contains TEXT")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch comparison")
    parser.add_argument("--no-textbook", action="store_true", help="skip the textbook baseline")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--plot", metavar="FILE.png", help="bar chart of the torch ratios")
    parser.add_argument("--algorithms", action="store_true",
                        help="instead: forward+backward ms of every convolution algorithm")
    parser.add_argument("--train", action="store_true",
                        help="instead: images/s of whole training steps of LeNet-5 and ResNet-8, "
                             "npconv against torch")
    parser.add_argument("--dask", action="store_true",
                        help="instead: a volume on disk convolved and differentiated on 1 and 2 "
                             "Dask workers (needs npconv[dask])")
    parser.add_argument("--volume-mib", type=positive_int, default=512, metavar="MIB",
                        help="size of the --dask volume (default 512)")


def run_command(args):
    cases = [c for c in SUITE if args.only is None or args.only.lower() in c.name.lower()]
    torch = None
    if not args.no_torch:
        try:
            import torch
        except ImportError:
            print("PyTorch is not installed: no torch ratios")
    threads = npconv.get_threads()
    if args.train:
        from .train_bench import run_training

        print(f"npconv bench --train: SGD steps (forward, cross-entropy, backward, momentum), "
              f"float32, {threads} threads, {_blas_description()}, median of {args.repeat}")
        results = run_training(args.repeat, torch, report=lambda line: print(line, flush=True))
        if args.json:
            with open(args.json, "w") as file:
                json.dump(results, file, indent=1)
        return 0
    if args.dask:
        from .volume_bench import run_volume

        results = run_volume(args.volume_mib, report=lambda line: print(line, flush=True))
        if args.json:
            with open(args.json, "w") as file:
                json.dump(results, file, indent=1)
        return 0
    if args.algorithms:
        print(f"npconv bench --algorithms: forward+backward ms, float32, {threads} threads, "
              f"{_blas_description()}, median of {args.repeat} alternating rounds")
        print(f"{'case':<22} {'im2col':>8} {'direct':>8} {'fft':>8} {'auto':>8}  fastest")
        results = algorithm_times(cases, args.repeat, report=lambda line: print(line, flush=True))
        if args.json:
            with open(args.json, "w") as file:
                json.dump(results, file, indent=1)
        return 0
    print(f"npconv bench: {len(cases)} cases, float32, {threads} npconv threads, "
          f"{_blas_description()}, median of {args.repeat}")
    print(HEADER)
    results = run(cases, args.repeat, threads, torch, not args.no_textbook,
                  report=lambda line: print(line, flush=True))
    ratios = [r["ratio_to_torch"] for r in results if r.get("ratio_to_torch") and r["kind"] == "conv"]
    if ratios:
        print(f"conv2d median ratio to torch: {np.median(ratios):.2f}x (worst {max(ratios):.2f}x)")
    summary = floor_summary(results)
    if summary:
        print(summary)
    if args.json:
        with open(args.json, "w") as file:
            json.dump(results, file, indent=1)
    if args.plot:  # the command has checked that matplotlib is there
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        named = [(r["name"], r["ratio_to_torch"]) for r in results if r.get("ratio_to_torch")]
        figure, axes = plt.subplots(figsize=(8, 0.35 * len(named) + 1))
        axes.barh([n for n, _ in named], [v for _, v in named])
        axes.axvline(1.0, color="black", linewidth=0.8)
        axes.set(xlabel="npconv time / torch time (forward+backward)")
        figure.tight_layout()
        figure.savefig(args.plot, dpi=120)
    return 0
