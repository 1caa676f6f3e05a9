"""Knowledge distillation of a masked student from its unmasked teacher (MST §4.3, FAITHFULNESS M15).

``loss = (1 − α)·CE(student, y) + α·τ²·KL(softmax(teacher/τ) ‖ softmax(student/τ))`` (Hinton et al.),
with α = 0.5 and τ = 4 by default.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from spikemask.errors import check


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor,
                      alpha: float = 0.5, temperature: float = 4.0, label_smoothing: float = 0.0) -> torch.Tensor:
    """Hinton KD loss for ``[B, K]`` logits and ``[B]`` labels (a scalar, mean over the batch)."""
    check(0.0 <= alpha <= 1.0, f"distillation weight must be in [0, 1], got {alpha}")
    check(temperature > 0, f"distillation temperature must be > 0, got {temperature}")
    ce = F.cross_entropy(student_logits, labels, label_smoothing=label_smoothing)
    kl = F.kl_div(F.log_softmax(student_logits / temperature, -1), F.log_softmax(teacher_logits / temperature, -1),
                  reduction="batchmean", log_target=True)
    return (1 - alpha) * ce + alpha * temperature ** 2 * kl
