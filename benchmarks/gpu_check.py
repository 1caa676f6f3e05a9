"""The engine's GPU check in one run: Triton kernels against the reference, their bandwidth, model img/s, a bf16 run.

Prepared for a machine with a GPU, PyTorch and Triton (nothing to install: the package runs from
``src/``), where it takes a few minutes::

    PYTHONPATH=src python3 benchmarks/gpu_check.py --out "$OUT"

With ``--device cpu`` the same checks run on the CPU with the C++ kernels, which is how the script
itself is tested. It prints one line per check and writes ``gpu_check.json`` in ``--out``:

1. ``kernels``: the backend (``triton`` on a GPU) against the ``reference`` loops on the same device:
   IF and signed IF outputs and LIF spikes bit for bit in fp32 / fp16 / bf16, LIF gradients within
   1e-6 in fp32.
2. ``bandwidth``: IF forward and LIF forward + backward rates, as a share of the device's measured
   copy bandwidth (bytes a fused scan must move: 8 per element-step forward, 24 forward + backward).
3. ``models``: SDMFormer-2-256 (128 px, 2 channels, T = 16) inference and training img/s, fp32 and
   with bf16 autocast, channels-last.
4. ``train``: ``spikemask train`` of SDMFormer-2-64 on the bundled MNIST with ``--amp``, two epochs
   of ``--train-batches`` steps; the train loss of the second epoch must be below the first's.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import torch

from spikemask.io import write_json
from spikemask.models import create_model
from spikemask.snn import kernels
from spikemask.snn.functional import reset_net


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device: torch.device, repeat: int) -> float:
    """Median seconds of ``fn()`` over ``repeat`` calls after two warm-ups."""
    for _ in range(2):
        fn()
    sync(device)
    seconds = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        sync(device)
        seconds.append(time.perf_counter() - start)
    return sorted(seconds)[len(seconds) // 2]


# ----------------------------------------------------------------------------- 1. kernels
def check_kernels(device: torch.device, backend: str) -> list[dict]:
    """Each case against the reference loops on ``device``; one row per case with ``ok``."""
    g = torch.Generator(device=device).manual_seed(0)
    rows = []
    for dtype in (torch.float32, torch.float16, torch.bfloat16):
        x = torch.rand(12, 3, 5000, generator=g, device=device).mul(3).sub(0.6).to(dtype)
        theta = torch.tensor(0.7, dtype=dtype).item()
        v0 = torch.full((3, 5000), 0.35, dtype=dtype, device=device)
        got, ref = kernels.if_scan(x, v0, theta, backend), kernels.if_scan(x, v0, theta, "reference")
        rows.append({"case": f"if {dtype}", "ok": all(torch.equal(a, b) for a, b in zip(got, ref))})
        lif = (2.0, 1.0, 0.0, "sigmoid", 4.0, True, True)
        zeros = torch.zeros(3, 5000, dtype=dtype, device=device)
        got, ref = kernels.lif_scan(x, zeros, *lif, backend=backend), kernels.lif_scan(x, zeros, *lif,
                                                                                        backend="reference")
        rows.append({"case": f"lif spikes {dtype}", "ok": all(torch.equal(a, b) for a, b in zip(got, ref))})
        count = torch.zeros_like(v0)
        got = kernels.signed_if_scan(x, v0, count, 0.25, 8, 1, backend)
        ref = kernels.signed_if_scan(x, v0, count, 0.25, 8, 1, "reference")
        rows.append({"case": f"signed {dtype}", "ok": all(torch.equal(a, b) for a, b in zip(got, ref))})
    for case in [(2.0, 1.0, 0.0, "sigmoid", 4.0, True, True), (1.7, 1.0, None, "atan", 2.0, False, False)]:
        grads = []
        for name in (backend, "reference"):
            x = torch.rand(16, 4, 3000, generator=torch.Generator(device=device).manual_seed(1),
                           device=device).mul(3).sub(0.6).requires_grad_()
            s, v = kernels.lif_scan(x, torch.zeros(4, 3000, device=device), *case, backend=name)
            (s * torch.linspace(0, 1, 3000, device=device)).sum().add(v.sum() * 0.3).backward()
            grads.append(x.grad)
        error = float((grads[0] - grads[1]).abs().max())
        rows.append({"case": f"lif gradients fp32 tau={case[0]} {case[3]}", "ok": error <= 1e-6,
                     "max_abs_error": error})
    return rows


# ----------------------------------------------------------------------------- 2. bandwidth
def copy_bandwidth(device: torch.device) -> float:
    """Bytes/s of a device copy of 1 GiB (2 GiB on the CPU would be slow: 256 MiB there), read + write."""
    n = (256 << 20) if device.type == "cuda" else (64 << 20)
    src = torch.empty(n, device=device).uniform_()
    dst = torch.empty_like(src)
    return 2 * n * 4 / timed(lambda: dst.copy_(src), device, 5)


def check_bandwidth(device: torch.device, backend: str, repeat: int) -> list[dict]:
    bandwidth = copy_bandwidth(device)
    big = device.type == "cuda"
    rows = []
    for dtype in (torch.float32, torch.float16):
        size = dtype.itemsize if hasattr(dtype, "itemsize") else torch.tensor([], dtype=dtype).element_size()
        shape = (64, 32, 18816) if big else (16, 4, 18816)
        x = torch.rand(*shape, device=device).to(dtype)
        v0 = torch.zeros(shape[1:], dtype=dtype, device=device)
        seconds = timed(lambda: kernels.if_scan(x, v0, 1.0, backend), device, repeat)
        rows.append(_rate_row(f"if forward {dtype}", shape, seconds, 2 * size, bandwidth))
        shape = (32, 64, 16384) if big else (16, 4, 16384)
        x = torch.rand(*shape, device=device).mul(1.5).to(dtype).requires_grad_()
        v0 = torch.zeros(shape[1:], dtype=dtype, device=device)
        grad = torch.ones(shape, dtype=dtype, device=device)

        def step() -> None:
            s, _ = kernels.lif_scan(x, v0, 2.0, 1.0, 0.0, "sigmoid", 4.0, True, True, backend=backend)
            s.backward(grad)

        seconds = timed(step, device, repeat)
        rows.append(_rate_row(f"lif forward+backward {dtype}", shape, seconds, 6 * size, bandwidth))
    return rows


def _rate_row(case: str, shape: tuple[int, ...], seconds: float, nbytes: int, bandwidth: float) -> dict:
    elements = 1
    for n in shape:
        elements *= n
    return {"case": case, "shape": list(shape), "seconds": seconds, "g_element_steps_per_s": elements / seconds / 1e9,
            "bandwidth_share": elements * nbytes / seconds / bandwidth, "copy_bandwidth_bytes_per_s": bandwidth}


# ----------------------------------------------------------------------------- 3. models
def check_models(device: torch.device, batch: int, repeat: int) -> list[dict]:
    rows = []
    shape = (16, batch, 2, 128, 128)
    x = (torch.rand(*shape, device=device) < 0.1).float()
    y = torch.arange(batch, device=device) % 10
    for amp in (False, True):
        torch.manual_seed(0)
        model = create_model("sdmformer_2_256", num_classes=10, in_channels=2, img_size=128).to(device)
        model = model.to(memory_format=torch.channels_last)
        optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)

        def infer() -> None:
            with torch.inference_mode(), torch.autocast(device.type, torch.bfloat16, enabled=amp):
                model(x)
            reset_net(model)

        def train() -> None:
            with torch.autocast(device.type, torch.bfloat16, enabled=amp):
                loss = torch.nn.functional.cross_entropy(model(x).mean(0).float(), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            reset_net(model)

        model.eval()
        rows.append({"case": f"sdmformer_2_256 inference{' bf16' if amp else ''}", "batch": batch,
                     "img_per_s": batch / timed(infer, device, repeat)})
        model.train()
        rows.append({"case": f"sdmformer_2_256 training{' bf16' if amp else ''}", "batch": batch,
                     "img_per_s": batch / timed(train, device, repeat)})
    return rows


# ----------------------------------------------------------------------------- 4. a bf16 training run
def check_training(device: torch.device, out: Path, batches: int) -> dict:
    folder = out / "train_sdmformer_amp"
    command = [sys.executable, "-m", "spikemask.cli", "train", "--model", "sdmformer_2_64", "--dataset", "mnist",
               "--epochs", "2", "--max-batches", str(batches), "--batch-size", "64", "--lr", "1e-3",
               "--device", device.type, "--amp", "--no-progress", "--out", str(folder)]
    started = time.perf_counter()
    subprocess.run(command, check=True)
    history = json.loads((folder / "metrics.json").read_text())["history"]
    losses = [row["train_loss"] for row in history]
    return {"case": "spikemask train sdmformer_2_64 --amp", "steps": 2 * batches, "train_loss": losses,
            "ok": losses[1] < losses[0], "seconds": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    parser.add_argument("--repeat", type=int, default=10, help="timed calls per case (default 10)")
    parser.add_argument("--batch", type=int, default=None, help="model batch (default 64 on a GPU, 2 on the CPU)")
    parser.add_argument("--train-batches", type=int, default=150, help="steps per epoch of the training run")
    args = parser.parse_args()
    device = torch.device(args.device)
    backend = kernels.resolve_backend("auto", torch.zeros(1, device=device))
    out = Path(args.out)
    record = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
              "backend": backend, "torch": torch.__version__}
    print(f"device {record['device']}, backend {backend}, torch {torch.__version__}", flush=True)
    record["kernels"] = check_kernels(device, backend)
    for row in record["kernels"]:
        print(f"  {'ok  ' if row['ok'] else 'FAIL'} {row['case']}", flush=True)
    record["bandwidth"] = check_bandwidth(device, backend, args.repeat)
    for row in record["bandwidth"]:
        print(f"  {row['case']:32} {row['g_element_steps_per_s']:8.2f} G element-steps/s = "
              f"{100 * row['bandwidth_share']:5.1f} % of copy bandwidth", flush=True)
    record["models"] = check_models(device, args.batch or (64 if device.type == "cuda" else 2), args.repeat)
    for row in record["models"]:
        print(f"  {row['case']:36} {row['img_per_s']:9.1f} img/s (batch {row['batch']})", flush=True)
    record["train"] = check_training(device, out, args.train_batches)
    print(f"  {'ok  ' if record['train']['ok'] else 'FAIL'} {record['train']['case']}: train loss "
          f"{record['train']['train_loss']} over {record['train']['steps']} steps", flush=True)
    print(f"wrote {write_json(out / 'gpu_check.json', record)}")


if __name__ == "__main__":
    main()
