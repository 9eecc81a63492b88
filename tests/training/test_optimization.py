"""``Optimization`` against the hand-written loops it replaces: accumulation, clipping,
mixed precision, LR schedules, and a resume in the middle of a window."""

from __future__ import annotations

import copy
import io
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from torchsystem.training import Optimization
from torchsystem.training._precision import Mixed

Loss = Callable[[nn.Module, Tensor, Tensor], Tensor]


def network(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))


def samples(count: int, seed: int = 1) -> tuple[Tensor, Tensor]:
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(count, 8, generator=generator)
    return inputs, torch.randint(0, 3, (count,), generator=generator)


def chunks(inputs: Tensor, target: Tensor, size: int) -> Iterator[tuple[Tensor, Tensor]]:
    for start in range(0, len(inputs), size):
        yield inputs[start : start + size], target[start : start + size]


def cross_entropy(model: nn.Module, inputs: Tensor, target: Tensor) -> Tensor:
    loss: Tensor = nn.functional.cross_entropy(model(inputs), target)
    return loss


def sgd(model: nn.Module, lr: float = 0.1) -> torch.optim.Optimizer:
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)


def hand_written(model: nn.Module, batches: list[tuple[Tensor, Tensor]],
                 clip: Callable[[nn.Module], Any] = lambda model: None, lr: float = 0.1) -> None:
    """The textbook loop: zero, forward, backward, clip, step."""
    optimizer = sgd(model, lr)
    for inputs, target in batches:
        optimizer.zero_grad()
        cross_entropy(model, inputs, target).backward()
        clip(model)
        optimizer.step()


def gap(left: nn.Module, right: nn.Module) -> float:
    pairs = zip(left.parameters(), right.parameters(), strict=True)
    return max(float((a - b).detach().abs().max()) for a, b in pairs)


def test_accumulating_k_batches_of_b_equals_one_batch_of_k_times_b() -> None:
    inputs, target = samples(96)
    accumulated, whole = network(), network()
    optimization = Optimization(sgd(accumulated), accumulate=4)

    stepped = [optimization.step(cross_entropy(accumulated, x, y))
               for x, y in chunks(inputs, target, 8)]
    hand_written(whole, list(chunks(inputs, target, 32)))

    assert stepped == [False, False, False, True] * 3
    assert optimization.steps == 3
    assert gap(accumulated, whole) < 1e-6
    assert gap(accumulated, network()) > 1e-2  # it did train


def test_the_leftover_of_an_epoch_steps_as_one_batch_of_its_samples() -> None:
    inputs, target = samples(48)  # 6 batches of 8: one window of 4, then 2 left over
    accumulated, whole = network(), network()
    optimization = Optimization(sgd(accumulated), accumulate=4)

    for x, y in chunks(inputs, target, 8):
        optimization.step(cross_entropy(accumulated, x, y))
    assert optimization.steps == 1
    assert optimization.flush() is True
    hand_written(whole, [(inputs[:32], target[:32]), (inputs[32:], target[32:])])

    assert optimization.steps == 2
    assert gap(accumulated, whole) < 1e-6


def test_flush_without_a_leftover_takes_no_step() -> None:
    model = network()
    optimization = Optimization(sgd(model), accumulate=2)
    for x, y in chunks(*samples(16), 8):
        optimization.step(cross_entropy(model, x, y))
    before = copy.deepcopy(model)

    assert optimization.flush() is False
    assert optimization.steps == 1
    assert gap(model, before) == 0


def test_gradients_are_cleared_after_each_step_so_windows_do_not_mix() -> None:
    model = network()
    optimization = Optimization(sgd(model), accumulate=2)
    batches = list(chunks(*samples(32), 8))

    optimization.step(cross_entropy(model, *batches[0]))
    assert all(p.grad is not None for p in model.parameters())
    optimization.step(cross_entropy(model, *batches[1]))

    assert all(p.grad is None for p in model.parameters())


def test_clipping_by_norm_equals_clip_grad_norm() -> None:
    batches = list(chunks(*samples(64), 16))
    clipped, reference = network(), network()
    optimization = Optimization(sgd(clipped, lr=1.0), clip_norm=0.05)
    norms = []

    for x, y in batches:
        optimization.step(cross_entropy(clipped, x, y))
        assert optimization.norm is not None
        norms.append(float(optimization.norm))
    hand_written(reference, batches, lambda m: nn.utils.clip_grad_norm_(m.parameters(), 0.05),
                 lr=1.0)

    assert min(norms) > 0.05  # the limit bit at every step
    assert gap(clipped, reference) < 1e-6


def test_clipping_by_value_equals_clip_grad_value() -> None:
    batches = list(chunks(*samples(64), 16))
    clipped, reference = network(), network()
    optimization = Optimization(sgd(clipped, lr=1.0), clip_value=0.01)

    for x, y in batches:
        optimization.step(cross_entropy(clipped, x, y))
    hand_written(reference, batches, lambda m: nn.utils.clip_grad_value_(m.parameters(), 0.01),
                 lr=1.0)
    unclipped = network()
    hand_written(unclipped, batches, lr=1.0)

    assert gap(clipped, reference) < 1e-6
    assert gap(clipped, unclipped) > 1e-3


def test_the_mean_gradient_of_a_window_is_clipped_once() -> None:
    inputs, target = samples(64)
    accumulated, whole = network(), network()
    optimization = Optimization(sgd(accumulated, lr=1.0), accumulate=4, clip_norm=0.05)

    for x, y in chunks(inputs, target, 8):
        optimization.step(cross_entropy(accumulated, x, y))
    hand_written(whole, list(chunks(inputs, target, 32)),
                 lambda m: nn.utils.clip_grad_norm_(m.parameters(), 0.05), lr=1.0)

    assert gap(accumulated, whole) < 1e-6


def learning_rates(optimizer: torch.optim.Optimizer) -> float:
    return float(optimizer.param_groups[0]["lr"])


def test_a_scheduler_per_step_steps_after_every_optimiser_step() -> None:
    batches = list(chunks(*samples(96), 8))
    model, reference = network(), network()
    optimizer = sgd(model)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.5, total_steps=6)
    optimization = Optimization(optimizer, accumulate=2, scheduler=scheduler, interval="step")
    seen = []
    for x, y in batches:
        if optimization.step(cross_entropy(model, x, y)):
            seen.append(learning_rates(optimizer))

    expected_optimizer = sgd(reference)
    expected_scheduler = torch.optim.lr_scheduler.OneCycleLR(
        expected_optimizer, max_lr=0.5, total_steps=6
    )
    expected = []
    for index, (x, y) in enumerate(batches):
        (cross_entropy(reference, x, y) / 2).backward()
        if index % 2 == 1:
            expected_optimizer.step()
            expected_optimizer.zero_grad()
            expected_scheduler.step()
            expected.append(learning_rates(expected_optimizer))

    assert seen == expected
    assert len(seen) == 6
    assert scheduler.last_epoch == expected_scheduler.last_epoch == 6
    assert gap(model, reference) < 1e-6


def test_a_scheduler_per_epoch_steps_at_the_end_of_each_epoch_only() -> None:
    model = network()
    optimizer = sgd(model)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    optimization = Optimization(optimizer, scheduler=scheduler)  # interval="epoch"
    rates = []
    for _ in range(3):
        for x, y in chunks(*samples(32), 8):
            optimization.step(cross_entropy(model, x, y))
        rates.append(learning_rates(optimizer))
        optimization.end_epoch()

    assert rates == [0.1, 0.05, 0.025]
    assert optimization.steps == 12


def test_end_epoch_flushes_the_leftover_before_the_scheduler_steps() -> None:
    model = network()
    optimizer = sgd(model)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    optimization = Optimization(optimizer, accumulate=4, scheduler=scheduler)
    for x, y in chunks(*samples(24), 8):
        optimization.step(cross_entropy(model, x, y))
    before = copy.deepcopy(model)

    optimization.end_epoch()

    assert optimization.steps == 1
    assert optimization.counted == 0
    assert gap(model, before) > 0
    assert learning_rates(optimizer) == 0.05


def test_a_bf16_run_matches_the_hand_written_autocast_loop() -> None:
    batches = list(chunks(*samples(64), 16))
    mixed, reference = network(), network()
    optimization = Optimization(sgd(mixed), precision="bf16-mixed", accumulate=2, clip_norm=1.0)
    dtypes = []
    for x, y in batches:
        with optimization.autocast():
            hidden = mixed[0](x)
            dtypes.append(hidden.dtype)
            loss = nn.functional.cross_entropy(mixed[2](mixed[1](hidden)), y)
        optimization.step(loss)

    optimizer = sgd(reference)
    for index, (x, y) in enumerate(batches):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = cross_entropy(reference, x, y)
        (loss / 2).backward()
        if index % 2 == 1:
            nn.utils.clip_grad_norm_(reference.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad()

    assert dtypes == [torch.bfloat16] * 4
    assert gap(mixed, reference) == 0
    assert gap(mixed, network()) > 1e-3


def test_full_precision_runs_without_autocast() -> None:
    model = network()
    optimization = Optimization(sgd(model), precision=32)
    with optimization.autocast():
        assert not torch.is_autocast_enabled("cpu")
        output = model(torch.randn(2, 8))

    assert output.dtype == torch.float32
    assert optimization.precision == "32-true"
    assert optimization.scaler is None


@pytest.mark.parametrize(("spelled", "meant"), [
    ("32-true", "32-true"), ("32", "32-true"), (32, "32-true"),
    ("bf16-mixed", "bf16-mixed"), ("bf16", "bf16-mixed"),
    ("16-mixed", "16-mixed"), ("16", "16-mixed"), (16, "16-mixed"),
])
def test_precision_is_spelled_as_lightning_spells_it(spelled: Any, meant: str) -> None:
    assert Optimization(sgd(network()), precision=spelled).precision == meant


def test_float16_on_the_cpu_is_refused_with_the_fix() -> None:
    model = network()
    optimization = Optimization(sgd(model), precision="16-mixed")

    with pytest.raises(ValueError, match=r"'16-mixed'.*needs a GPU.*use precision='bf16-mixed'"):
        optimization.autocast()
    with pytest.raises(ValueError, match="needs a GPU"):
        optimization.step(cross_entropy(model, *samples(4)))


@pytest.fixture
def float16_on_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lets '16-mixed' run on the CPU (a real GradScaler and float16 autocast there), for
    machines without a GPU; the GPU test below runs the same on CUDA."""
    monkeypatch.setattr(Mixed, "device_type", lambda self: self._parameter().device.type)


def scaled_reference(model: nn.Module, batches: list[tuple[Tensor, Tensor]], device: str,
                     clip: float) -> torch.amp.GradScaler:
    """torch's documented AMP loop with accumulation (2) and clipping."""
    optimizer, scaler = sgd(model), torch.amp.GradScaler(device)
    for index, (x, y) in enumerate(batches):
        with torch.autocast(device, dtype=torch.float16):
            loss = cross_entropy(model, x, y)
        scaler.scale(loss / 2).backward()
        if index % 2 == 1:
            scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(model.parameters(), clip)
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad()
    return scaler


def run_scaled(model: nn.Module, batches: list[tuple[Tensor, Tensor]], clip: float) -> Optimization:
    optimization = Optimization(sgd(model), precision="16-mixed", accumulate=2, clip_norm=clip)
    for x, y in batches:
        with optimization.autocast():
            loss = cross_entropy(model, x, y)
        optimization.step(loss)
    return optimization


@pytest.mark.usefixtures("float16_on_the_cpu")
def test_float16_scales_the_loss_unscales_before_clipping_and_matches_torchs_amp_loop() -> None:
    batches = [(x * 10, y) for x, y in chunks(*samples(128), 16)]  # the first step overflows
    scaled, reference = network(), network()

    optimization = run_scaled(scaled, batches, clip=1.0)
    scaler = scaled_reference(reference, batches, "cpu", clip=1.0)

    assert optimization.scaler is not None
    assert optimization.scaler.get_scale() == scaler.get_scale() == 32768.0  # one skip
    assert gap(scaled, reference) == 0
    assert gap(scaled, network()) > 1e-2  # the other steps were taken


@pytest.mark.usefixtures("float16_on_the_cpu")
def test_a_scaler_state_loaded_before_the_first_backward_is_used() -> None:
    model = network()
    optimization = Optimization(sgd(model), precision="16-mixed")
    state = {"scale": 128.0, "growth_factor": 2.0, "backoff_factor": 0.5,
             "growth_interval": 2000, "_growth_tracker": 0}

    optimization.load_state_dict({"counted": 0, "steps": 5, "gradients": [], "scaler": state,
                                  "scheduler": None})
    assert optimization.state_dict()["scaler"] == state
    with optimization.autocast():
        loss = cross_entropy(model, *samples(8))
    optimization.step(loss)

    assert optimization.scaler.get_scale() == 128.0
    assert optimization.steps == 6


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_float16_with_a_scaler_on_a_gpu_matches_torchs_amp_loop() -> None:
    batches = [(x.cuda() * 10, y.cuda()) for x, y in chunks(*samples(128), 16)]
    scaled, reference = network().cuda(), network().cuda()

    optimization = run_scaled(scaled, batches, clip=1.0)
    scaler = scaled_reference(reference, batches, "cuda", clip=1.0)

    assert optimization.scaler.get_scale() == scaler.get_scale()
    assert gap(scaled, reference) == 0
    assert gap(scaled, network().cuda()) > 1e-2


def saved(state: dict[str, Any]) -> dict[str, Any]:
    """Through ``torch.save`` and ``torch.load(weights_only=True)``, as checkpoints go."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    loaded: dict[str, Any] = torch.load(buffer, weights_only=True)
    return loaded


def test_a_resume_in_the_middle_of_a_window_ends_as_an_uninterrupted_run() -> None:
    batches = list(chunks(*samples(80), 8))  # 10 batches, windows of 4: 4 + 4 + 2

    def parts(model: nn.Module) -> tuple[torch.optim.Optimizer, Any, Optimization]:
        optimizer = sgd(model)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)
        return optimizer, scheduler, Optimization(
            optimizer, accumulate=4, scheduler=scheduler, interval="step", clip_norm=0.5
        )

    whole = network()
    _, _, optimization = parts(whole)
    for x, y in batches:
        optimization.step(cross_entropy(whole, x, y))
    optimization.end_epoch()

    first = network()
    optimizer, _, interrupted = parts(first)
    for x, y in batches[:6]:  # stops two batches into the second window
        interrupted.step(cross_entropy(first, x, y))
    checkpoint = saved({"model": first.state_dict(), "optimizer": optimizer.state_dict(),
                        "optimization": interrupted.state_dict()})

    resumed = network(seed=5)
    optimizer, scheduler, optimization = parts(resumed)
    resumed.load_state_dict(checkpoint["model"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    optimization.load_state_dict(checkpoint["optimization"])
    assert (optimization.counted, optimization.steps, scheduler.last_epoch) == (2, 1, 1)
    for x, y in batches[6:]:
        optimization.step(cross_entropy(resumed, x, y))
    optimization.end_epoch()

    assert gap(resumed, whole) == 0
    assert optimization.steps == 3


@pytest.mark.parametrize(("arguments", "error", "message"), [
    ({"accumulate": 0}, ValueError, "a whole number of batches, 1 or more, got 0"),
    ({"accumulate": True}, ValueError, "accumulate must be a whole number"),
    ({"accumulate": 2.0}, ValueError, "accumulate must be a whole number"),
    ({"clip_norm": 1.0, "clip_value": 1.0}, ValueError, "give clip_norm or clip_value, not both"),
    ({"clip_norm": 0}, ValueError, "clip_norm must be a positive number, got 0"),
    ({"clip_value": float("inf")}, ValueError, "clip_value must be a positive number, got inf"),
    ({"clip_norm": "1"}, ValueError, "clip_norm must be a positive number, got '1'"),
    ({"precision": "64"}, ValueError, r"unknown precision '64'; use one of: '32-true', '32'"),
    ({"precision": "bf16-true"}, ValueError, "unknown precision 'bf16-true'"),
    ({"interval": "batch"}, ValueError, "interval must be 'step' or 'epoch', got 'batch'"),
])
def test_bad_arguments_are_refused_when_made(
    arguments: dict[str, Any], error: type[Exception], message: str,
) -> None:
    with pytest.raises(error, match=message):
        Optimization(sgd(network()), **arguments)


def test_what_is_not_an_optimizer_is_refused() -> None:
    with pytest.raises(TypeError, match=r"optimizer must be a torch\.optim\.Optimizer, got"):
        Optimization(network())  # type: ignore[arg-type]


def test_a_plateau_scheduler_is_refused_with_where_to_step_it() -> None:
    optimizer = sgd(network())
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer)

    with pytest.raises(TypeError, match=r"ReduceLROnPlateau steps on a metric.*step\(value\)"):
        Optimization(optimizer, scheduler=plateau)


def test_a_scheduler_of_another_optimizer_is_refused() -> None:
    other = torch.optim.lr_scheduler.StepLR(sgd(network()), step_size=1)

    with pytest.raises(ValueError, match="the scheduler schedules another optimizer"):
        Optimization(sgd(network()), scheduler=other)


def test_what_cannot_step_is_not_a_scheduler() -> None:
    optimizer = sgd(network())

    class Stepless:
        pass

    with pytest.raises(TypeError, match=r"scheduler must have a step\(\) method, got Stepless"):
        Optimization(optimizer, scheduler=Stepless())


def test_a_state_of_something_else_is_refused() -> None:
    optimization = Optimization(sgd(network()))

    with pytest.raises(ValueError, match=r"not a state of Optimization: it misses \['counted'"):
        optimization.load_state_dict({"steps": 1})
    state = {"counted": 1, "steps": 0, "gradients": [torch.zeros(1)], "scaler": {},
             "scheduler": None}
    with pytest.raises(ValueError, match="gradients of 1 parameters, but the optimizer has 4"):
        optimization.load_state_dict(state)


def test_the_state_holds_no_gradients_between_windows() -> None:
    model = network()
    optimization = Optimization(sgd(model), accumulate=2)
    batches = list(chunks(*samples(16), 8))
    optimization.step(cross_entropy(model, *batches[0]))
    assert len(optimization.state_dict()["gradients"]) == 4

    optimization.step(cross_entropy(model, *batches[1]))

    assert saved(optimization.state_dict()) == {
        "counted": 0, "steps": 1, "gradients": [], "scaler": {}, "scheduler": None,
    }
