"""Gradient checkpointing over time: the recomputation changes nothing but memory."""
from __future__ import annotations

import copy

import pytest
import torch

from spikemask.errors import SpikemaskError
from spikemask.models import create_model
from spikemask.snn.functional import reset_net
from spikemask.train.recompute import forward_in_chunks


def _chunked_without_checkpoint(model, x, steps):
    return torch.cat([model(x[s:s + steps]) for s in range(0, x.shape[0], steps)])


def _step(model, x, y, forward):
    model.zero_grad(set_to_none=True)
    loss = torch.nn.functional.cross_entropy(forward(model, x).mean(0), y)
    loss.backward()
    reset_net(model)
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    stats = {n: b.clone() for n, b in model.named_buffers() if "running" in n or "tracked" in n}
    return loss.item(), grads, stats


@pytest.mark.parametrize("name", ["spikformer_2_64", "sdmformer_2_64"])
def test_checkpointed_chunks_equal_the_same_chunks_without_checkpointing(name):
    torch.manual_seed(0)
    model = create_model(name, num_classes=4, in_channels=2, img_size=32, time_steps=6).train()
    twin = copy.deepcopy(model)
    x, y = (torch.rand(6, 3, 2, 32, 32) < 0.3).float(), torch.tensor([0, 1, 3])
    loss, grads, stats = _step(model, x, y, lambda m, x: forward_in_chunks(m, x, 4))   # chunks of 4 and 2
    ref_loss, ref_grads, ref_stats = _step(twin, x, y, lambda m, x: _chunked_without_checkpoint(m, x, 4))
    assert loss == ref_loss and grads.keys() == ref_grads.keys() and len(grads) > 10
    for n in grads:
        torch.testing.assert_close(grads[n], ref_grads[n], rtol=1e-5, atol=1e-7, msg=n)
    for n in stats:                  # the recomputation did not update BatchNorm's running averages again
        assert torch.equal(stats[n], ref_stats[n]), n


def test_gradients_cross_chunk_boundaries():
    torch.manual_seed(1)
    model = create_model("spikformer_2_64", num_classes=4, in_channels=2, img_size=32, time_steps=4).train()
    x = (torch.rand(4, 2, 2, 32, 32) < 0.3).float().requires_grad_()
    forward_in_chunks(model, x, 2)[2:].sum().backward()         # only the second chunk's outputs
    assert x.grad[:2].abs().sum() > 0                            # reach the first chunk's input through the state


def test_bad_chunk_size_is_refused():
    model = create_model("spikformer_2_64", num_classes=4, in_channels=2, img_size=32)
    with pytest.raises(SpikemaskError, match="positive integer"):
        forward_in_chunks(model, torch.zeros(2, 1, 2, 32, 32), 0)


def test_training_with_channels_last_and_checkpointed_time(tmp_path):
    """`spikemask train --channels-last --checkpoint-steps 2` trains a Spikformer (T = 4 in chunks of 2)
    and writes a checkpoint that rebuilds the model."""
    from spikemask.checkpoint import load_checkpoint
    from spikemask.models.record import build_model
    from spikemask.train.config import TrainConfig
    from spikemask.train.trainer import train

    tiny = dict(model="spikformer_2_64", dataset="mnist", batch_size=8, lr=1e-3, progress=False,
                model_options={"time_steps": 4})
    fast = train(TrainConfig(out=str(tmp_path / "fast"), epochs=1, max_batches=2, channels_last=True,
                             checkpoint_steps=2, **tiny))
    assert torch.isfinite(torch.tensor(fast["history"][0]["train_loss"]))
    model = build_model(load_checkpoint(tmp_path / "fast" / "checkpoint.pt"))
    assert model(torch.zeros(4, 1, 1, 28, 28)).shape == (4, 1, 10)
