"""Training of QCFS ANNs (for conversion) and directly trained SNNs, one loop for both.

``train(TrainConfig(...))`` builds the model and data from names, trains with SGD or AdamW and a
cosine schedule, evaluates every epoch, and writes into ``out``: ``config.json``, ``checkpoint.pt``
(every epoch, atomically; ``resume=True`` continues from it), ``metrics.json`` and
``training.png``. It runs unchanged under ``torchrun --nproc_per_node=N`` (DistributedDataParallel;
gloo on CPU, nccl on GPU); only rank 0 writes files.

Optional: Random Spike Masking during training (``mask_ratio``/``mask_where``), initialisation from
another checkpoint (``init``, e.g. a masked fine-tune of an unmasked model) and knowledge
distillation from a ``teacher`` checkpoint (:mod:`spikemask.train.distill`).
"""
from __future__ import annotations

import math
import os
import random
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from spikemask.checkpoint import load_checkpoint, save_checkpoint
from spikemask.data import get_dataset
from spikemask.errors import OptionError, SpikemaskError, check, check_option
from spikemask.io import write_json
from spikemask.masks.placement import apply_mask_setting, mask_rng_states, set_mask_rng_states
from spikemask.models import create_model
from spikemask.models.base import SpikingClassifier
from spikemask.models.record import build_model
from spikemask.report.tables import mean_std
from spikemask.snn.functional import batch_to_time_major, reset_net
from spikemask.snn.qcfs import set_level_jitter
from spikemask.train.config import TrainConfig
from spikemask.train.distill import distillation_loss
from spikemask.train.recompute import forward_in_chunks


# ----------------------------------------------------------------------------- set-up helpers
def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def random_streams() -> dict[str, Any]:
    """This process's global random streams (torch on CPU and each CUDA device, numpy, Python) as tensors
    and plain data, so that a checkpoint holding them loads without unpickling code."""
    _, keys, pos, has_gauss, cached_gaussian = np.random.get_state()
    version, state, gauss = random.getstate()
    return {"torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos), "has_gauss": int(has_gauss),
                      "cached_gaussian": float(cached_gaussian)},
            "python": {"version": version, "state": list(state), "gauss": gauss}}


def set_random_streams(streams: dict[str, Any]) -> None:
    """Continue every stream of :func:`random_streams` where it was saved."""
    torch.set_rng_state(streams["torch"])
    if streams["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(streams["cuda"])
    n = streams["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    py = streams["python"]
    random.setstate((py["version"], tuple(py["state"]), py["gauss"]))


def pick_device(name: str) -> torch.device:
    """``auto`` → CUDA when available, else CPU; an unavailable CUDA request falls back to CPU."""
    if name == "auto" or (name.startswith("cuda") and not torch.cuda.is_available()):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(name)
    except RuntimeError:
        raise OptionError("device", f"{name!r} is not a device; use cpu, cuda, cuda:N or auto") from None


def distributed_setup(device: torch.device) -> tuple[int, int]:
    """Join the torchrun process group if launched by torchrun; returns ``(rank, world_size)``."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def param_groups(model: SpikingClassifier, weight_decay: float) -> list[dict]:
    """No weight decay on the model's ``no_weight_decay()`` parameters: 1-D ones (biases, BN, QCFS λ,
    masks) and, for MST, the relative position bias tables, as timm and the MST code do (M16, A2)."""
    exempt = model.no_weight_decay()
    named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    decay = [p for name, p in named if name not in exempt]
    no_decay = [p for name, p in named if name in exempt]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    groups = param_groups(model, cfg.weight_decay)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=0.9, nesterov=True)
    return torch.optim.AdamW(groups, lr=cfg.lr)


def lr_factor(step: int, total: int, warmup: int) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine from 1 to 0 at ``total`` steps."""
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


def check_batch(x: torch.Tensor) -> None:
    if not torch.isfinite(x).all():
        raise SpikemaskError("a training batch contains NaN or infinite values; clean the dataset")


@torch.no_grad()
def evaluate_accuracy(model: nn.Module, loader: DataLoader, device: torch.device,
                      max_batches: int | None = None) -> float:
    """Top-1 accuracy (fraction) of a model on its ``default_time_steps`` (an ANN: T = 1; a directly
    trained SNN: its T; frames bring their own T), answering with the mean logits over T."""
    model.eval()
    correct = total = 0
    for i, (x, y) in enumerate(loader):
        if max_batches is not None and i >= max_batches:
            break
        x, y = batch_to_time_major(x.to(device), model.default_time_steps), y.to(device)
        correct += int((model(x).mean(0).argmax(-1) == y).sum())
        total += len(y)
        reset_net(model)
    return correct / max(1, total)


@torch.no_grad()
def recompute_bn_stats(model: nn.Module, loader: DataLoader, device: torch.device, batches: int) -> int:
    """Replace every BatchNorm's running statistics by their plain average over ``batches`` batches.

    "Precise BN" (Wu & Johnson 2021, arXiv:2105.07576): the exponential moving average of the
    training run lags the weights, which matters when BN sits in a residual stream (MST, M3).
    Only the BN layers run in training mode; everything else (QCFS levels, dropout, drop-path)
    runs as in evaluation. Returns the number of BN layers updated.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms or batches < 1:
        return 0
    was_training = model.training
    model.eval()
    momenta = [bn.momentum for bn in norms]
    for bn in norms:
        bn.reset_running_stats()
        bn.momentum = None            # cumulative average over the batches below
        bn.train()
    for i, (x, _) in enumerate(loader):
        if i >= batches:
            break
        model(batch_to_time_major(x.to(device), model.default_time_steps))
        reset_net(model)
    for bn, momentum in zip(norms, momenta):
        bn.momentum = momentum
    model.train(was_training)
    return len(norms)


# ----------------------------------------------------------------------------- the run
def check_run_folder(out: str | os.PathLike, resume: bool, overwrite: bool, pattern: str = "checkpoint.pt") -> None:
    """Refuse to train into ``out`` when it holds a run (a file matching ``pattern``), unless the run is
    resumed or overwriting it was asked for: a finished run is never replaced by accident."""
    found = sorted(Path(out).glob(pattern))
    check_option(resume or overwrite or not found, ("resume", "overwrite"),
                 f"must be given to train into {out}: it holds a run already ({found[0] if found else ''}); "
                 "or pick another out folder")


class Trainer:
    """One training run; see the module docstring."""

    def __init__(self, cfg: TrainConfig) -> None:
        cfg.validate()
        check_run_folder(cfg.out, cfg.resume, cfg.overwrite)
        self.cfg = cfg
        self.out = Path(cfg.out)
        self.device = pick_device(cfg.device)
        self.rank, self.world = distributed_setup(self.device)
        seed_everything(cfg.seed)
        train_spec = get_dataset(cfg.dataset, root=cfg.root, train=True, **cfg.data_options)
        test_spec = get_dataset(cfg.dataset, root=cfg.root, train=False, **{**cfg.data_options, "augment": False})
        self.model = self._build_model(train_spec).to(self.device)
        if cfg.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.teacher = self._load_teacher(train_spec)
        sampler = DistributedSampler(train_spec.dataset, seed=cfg.seed) if self.world > 1 else None
        self.sampler = sampler
        self.train_loader = DataLoader(train_spec.dataset, cfg.batch_size, shuffle=sampler is None, sampler=sampler,
                                       num_workers=cfg.workers, drop_last=True)
        self.test_loader = DataLoader(test_spec.dataset, 256, num_workers=cfg.workers)
        check_option(len(self.train_loader) > 0, "batch_size",
                     f"must not exceed the {len(train_spec.dataset)} training samples, got {cfg.batch_size}")
        self.net = nn.parallel.DistributedDataParallel(self.model) if self.world > 1 else self.model
        self.optimizer = make_optimizer(self.model, cfg)
        steps_per_epoch = min(len(self.train_loader), cfg.max_batches or len(self.train_loader))
        total, warm = cfg.epochs * steps_per_epoch, cfg.warmup_epochs * steps_per_epoch
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda s: lr_factor(s, total, warm))
        self.start_epoch, self.history = 0, []
        if cfg.resume:
            self._resume()

    def _build_model(self, spec) -> nn.Module:
        cfg = self.cfg
        if cfg.init:
            ckpt = load_checkpoint(cfg.init)
            check_option(ckpt["model_name"] == cfg.model, "init", f"{cfg.init} holds a {ckpt['model_name']}, not a "
                         f"{cfg.model}; train model {ckpt['model_name']!r} from it")
            model = build_model(ckpt, cfg.model_options)   # --opt overrides the saved options
        else:
            model = create_model(cfg.model, num_classes=spec.num_classes, in_channels=spec.in_channels,
                                 img_size=spec.img_size, **cfg.model_options)
        check(model.in_channels == spec.in_channels and model.img_size == spec.img_size,
              f"model expects {model.in_channels}x{model.img_size}x{model.img_size} input but {cfg.dataset} "
              f"gives {spec.in_channels}x{spec.img_size}x{spec.img_size}; pick a matching model or dataset")
        check(model.num_classes == spec.num_classes,
              f"model has {model.num_classes} outputs but {cfg.dataset} has {spec.num_classes} classes")
        if cfg.qcfs_jitter is not None:
            check_option(set_level_jitter(model, tuple(cfg.qcfs_jitter)) > 0, "qcfs_jitter",
                         f"applies to QCFS activations, and {cfg.model} has none; drop it")
        apply_mask_setting(model, {"ratio": cfg.mask_ratio, "where": cfg.mask_where, "seed": cfg.mask_seed,
                                   "mode": cfg.mask_mode} if cfg.mask_ratio > 0 else None)
        return model

    def _load_teacher(self, spec) -> nn.Module | None:
        if not self.cfg.teacher:
            return None
        teacher = build_model(load_checkpoint(self.cfg.teacher)).to(self.device).eval()
        check(teacher.num_classes == spec.num_classes, "the teacher was trained for a different number of classes")
        for p in teacher.parameters():
            p.requires_grad_(False)
        return teacher

    def _resume(self) -> None:
        path = self.out / "checkpoint.pt"
        if not path.exists():
            raise OptionError("resume", f"is set but {path} does not exist; unset it to start afresh")
        ckpt = load_checkpoint(path)
        check_option(ckpt["model_name"] == self.model.model_name, "out", f"{self.out} holds a run of "
                     f"{ckpt['model_name']}, not of {self.model.model_name}; use another folder or the same model")
        check_option(all(k in ckpt for k in ("optimizer", "scheduler", "epoch")), "resume",
                     f"needs a training checkpoint, and {path} has no optimizer state (it was not written by "
                     "train); use another out folder")
        self.model.load_state_dict(self.model.filter_state_dict(ckpt["state_dict"]))
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        self.start_epoch, self.history = ckpt["epoch"], ckpt.get("history", [])
        check_option("streams" in ckpt, "resume", f"needs the random streams of the run, and {path} was written "
                     "without them (by an older spikemask), so it cannot continue exactly; start afresh, or use "
                     "--init to start from its weights")
        ranks = ckpt["streams"]
        check_option(len(ranks) == self.world, "resume", f"needs as many processes as wrote {path} "
                     f"({len(ranks)}), got {self.world}; relaunch with --nproc_per_node={len(ranks)}")
        mine = ranks[self.rank]
        set_random_streams(mine["random"])
        set_mask_rng_states(self.model, mine["mask_rng"], self.device)
        if self.teacher is not None:
            set_mask_rng_states(self.teacher, mine["teacher_mask_rng"], self.device)

    def streams(self) -> list[dict[str, Any]]:
        """Every random stream of every process, for an exact resume: ``[{"random": global streams,
        "mask_rng": the student's seeded masks, "teacher_mask_rng": the teacher's}]``, one per rank."""
        mine = {"random": random_streams(), "mask_rng": mask_rng_states(self.model),
                "teacher_mask_rng": mask_rng_states(self.teacher) if self.teacher is not None else {}}
        if self.world == 1:
            return [mine]
        ranks: list[Any] = [None] * self.world
        dist.all_gather_object(ranks, mine)                    # every rank takes part; rank 0 saves them
        return ranks

    def loss(self, logits: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.teacher is None:
            return F.cross_entropy(logits, y, label_smoothing=self.cfg.label_smoothing)
        with torch.no_grad():
            teacher_logits = self.teacher(batch_to_time_major(x, self.teacher.default_time_steps)).mean(0)
            reset_net(self.teacher)
        return distillation_loss(logits, teacher_logits, y, self.cfg.kd_alpha, self.cfg.kd_temperature,
                                 self.cfg.label_smoothing)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The training forward ``[T, B, ...]`` → ``[T, B, classes]``, over checkpointed chunks of time
        with ``--checkpoint-steps``."""
        if self.cfg.checkpoint_steps:
            return forward_in_chunks(self.net, x, self.cfg.checkpoint_steps)
        return self.net(x)

    def train_epoch(self, epoch: int) -> dict[str, float]:
        cfg = self.cfg
        self.net.train()
        if self.sampler is not None:
            self.sampler.set_epoch(epoch)
        n_batches = min(len(self.train_loader), cfg.max_batches or len(self.train_loader))
        bar = tqdm(self.train_loader, total=n_batches, desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False,
                   disable=not cfg.progress or self.rank != 0, dynamic_ncols=True)
        loss_sum = correct = seen = 0
        for i, (x, y) in enumerate(bar):
            if i >= n_batches:
                break
            x, y = x.to(self.device), y.to(self.device)
            check_batch(x)
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=cfg.amp):
                logits = self.forward(batch_to_time_major(x, self.model.default_time_steps)).mean(0)
                loss = self.loss(logits.float(), x, y)
            if not torch.isfinite(loss):
                raise OptionError("lr", f"is too high: training diverged (loss {loss.item()}) at epoch "
                                        f"{epoch + 1}; lower it; the last good checkpoint is kept")
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.scheduler.step()
            reset_net(self.model)
            loss_sum += loss.item() * len(y)
            correct += int((logits.argmax(-1) == y).sum())
            seen += len(y)
            bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}")
        return {"train_loss": loss_sum / max(1, seen), "train_accuracy": correct / max(1, seen)}

    def run(self) -> dict[str, Any]:
        cfg = self.cfg
        if self.rank == 0:
            write_json(self.out / "config.json", asdict(cfg))
        started = time.time()
        for epoch in range(self.start_epoch, cfg.epochs):
            train_row = self.train_epoch(epoch)
            recompute_bn_stats(self.model, self.train_loader, self.device, cfg.precise_bn)
            row = {"epoch": epoch + 1, **train_row,
                   "test_accuracy": evaluate_accuracy(self.model, self.test_loader, self.device),
                   "lr": self.scheduler.get_last_lr()[0]}
            self.history.append(row)
            streams = self.streams()
            if self.rank == 0:
                print(f"epoch {row['epoch']:3d}/{cfg.epochs}  loss {row['train_loss']:.4f}  "
                      f"train {row['train_accuracy']:.4f}  test {row['test_accuracy']:.4f}", flush=True)
                save_checkpoint(self.out / "checkpoint.pt", self.model, epoch=epoch + 1, config=asdict(cfg),
                                optimizer=self.optimizer.state_dict(), scheduler=self.scheduler.state_dict(),
                                history=self.history, streams=streams)
        metrics = {"model": self.model.model_name, "dataset": cfg.dataset, "world_size": self.world,
                   "mask": self.model.mask_setting, "epochs": cfg.epochs,
                   "test_accuracy": self.history[-1]["test_accuracy"] if self.history else None,
                   "seconds": time.time() - started, "history": self.history}
        if self.rank == 0:
            write_json(self.out / "metrics.json", metrics)
            from spikemask.report.plots import plot_training
            plot_training(self.history, self.out / "training.png")
        return metrics


def summarize_seeds(seeds: list[int], runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Final test accuracies of several seeds as mean and sample standard deviation."""
    acc = [float(r["test_accuracy"]) for r in runs]
    return {"seeds": list(seeds), "test_accuracy": acc, **mean_std(acc)}


def train(cfg: TrainConfig) -> dict[str, Any]:
    """Run a training job (see :class:`Trainer`) and return its metrics."""
    return Trainer(cfg).run()
