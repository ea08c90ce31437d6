"""Spiking gradient flossing interleaved with training (brian2_sparseprop.spiking.flossing_training) and the
delayed cue recall experiment (brian2_sparseprop.experiments.spiking_flossing): refusals, the schedule, an
interrupted run resumed against an uninterrupted one, the exponents moved toward the target over several
seeds, the quick CLI."""

import json

import numpy as np
import optax
import pytest

pytest.importorskip("jax")

from brian2_sparseprop.experiments.spiking_flossing import cue_recall_task, main
from brian2_sparseprop.spiking import lyapunov_spectrum
from brian2_sparseprop.spiking.flossing import flossing_loss_and_grad
from brian2_sparseprop.spiking.flossing_training import (
    FlossingSchedule,
    flossing_network,
    keep_flossable,
    train_with_flossing,
)
from brian2_sparseprop.spiking.training import TrainableNetwork

# the quick experiment's network (N = 20, K = 5, k = 3, windows of 0.2 s): the tests share its compiled replays
SCHEDULE = dict(k=3, duration=0.2, t_warmup=0.2, t_warmup_tangent=0.1)


def _task(seed, n_train=8, delay=0.02):
    return cue_recall_task(20, 5, delay, seed=seed, n_train=n_train, n_test=8)


def _optimizer(model):
    return optax.chain(optax.clip_by_global_norm(1.0), optax.adam(3e-3), keep_flossable(model, margin=0.02))


def _spectrum_distance(model, params, target, seed):
    """sum_{i <= 3} |lambda_i - target| of the autonomous network, lyapunov_spectrum over 3 s after 1 s."""
    net = flossing_network(model, params, seed=[seed, 99])
    net.run(0.5)
    lam = lyapunov_spectrum(net, 3.0, k=3, t_warmup_tangent=1.0, seed=seed).exponents.magnitude
    return np.abs(lam - target).sum(), lam


def test_floss_takes_networks_of_trainable_network():
    """The autonomous network of a TrainableNetwork: the flossing replay's exponents equal lyapunov_spectrum's
    (the first window of the first flossing phase of the resume test below: it reuses the compiled replay)."""
    task = _task(1)
    net = flossing_network(task["model"], task["params"], seed=[1, 0])
    net.run(0.2)
    g = flossing_loss_and_grad(net, 0.2, k=3, t_warmup_tangent=0.1, seed=1)
    ref = lyapunov_spectrum(net, 0.2, k=3, t_warmup_tangent=0.1, seed=1)
    np.testing.assert_allclose(g.exponents.magnitude, ref.exponents.magnitude, rtol=1e-9, atol=1e-9)
    assert g.dL_dweights.shape == task["params"]["weights"].shape and np.abs(g.dL_ddrive).max() > 0


def test_floss_refuses_the_batch_network_with_its_inputs():
    """A TrainableNetwork's batch network carries its inputs as a spike generator: floss names it."""
    from brian2_sparseprop.spiking.flossing import floss

    task = _task(0)
    net = task["model"]._network(task["params"], task["train"][0][:2])
    with pytest.raises(NotImplementedError, match="spike-generator input"):
        floss(net, 0.1, k=2, n_steps=1, evaluate=None)


def _small(**kw):
    args = dict(n_inputs=1, input_indptr=[0, 1], input_indices=[0], readout=[0], duration=0.05, drive=1.3,
                weights=-0.2, trained=["weights", "drive"])  # fmt: skip
    args.update(kw)
    return TrainableNetwork(3, [0, 1, 2, 3], [1, 2, 0], **args)


@pytest.mark.parametrize(
    "kw, error, match",
    [
        (dict(model="lif_exp"), NotImplementedError, "model 'lif'"),
        (dict(delays=0.001), NotImplementedError, "without delays"),
        (dict(refractory=0.002), NotImplementedError, "without refractory"),
        (dict(drive=0.9), NotImplementedError, "drive > threshold"),
        (dict(weights=0.1), NotImplementedError, "weights <= 0"),
        (dict(trained=["weights"]), ValueError, "model's trained parameters"),
    ],
)
def test_refusals_before_any_work(kw, error, match, tmp_path):
    model = _small(**kw)
    params = {name: np.broadcast_to(model._fixed[name], model.shapes[name]).copy() for name in model.trained}
    ckpt = tmp_path / "run.pkl"
    with pytest.raises(error, match=match):
        train_with_flossing(
            model, params, [[0.01]], np.array([0.02]), lambda t, y: (t[:, 0, 0] ** 2).sum(), optax.adam(1e-3),
            epochs=1, batch_size=1, flossing=FlossingSchedule(k=2, steps_before=1), checkpoint=ckpt,
        )  # fmt: skip
    assert not ckpt.exists()


def test_schedule_checks():
    assert FlossingSchedule(k=2, steps_before=0, interval=3, steps_during=1).phase_epochs(10) == [3, 6, 9]
    assert FlossingSchedule(k=2, steps_before=4, interval=3, steps_during=0).phase_epochs(10) == [0]
    with pytest.raises(ValueError, match="train must be"):
        FlossingSchedule(k=2, train=("input_weights",))
    with pytest.raises(ValueError, match="interval"):
        FlossingSchedule(k=2, interval=-1)
    with pytest.raises(TypeError, match="optimizer"):
        FlossingSchedule(k=2, optimizer="adam")


def test_interrupted_run_resumes_to_the_uninterrupted_result(tmp_path):
    """Flossing before training and before every epoch; Ctrl-C in the middle of epoch 1 (train saves the
    checkpoint), then a resumed call: the same parameters, optimiser state and flossing record as one
    uninterrupted call."""
    task = _task(1)
    model = task["model"]
    schedule = FlossingSchedule(**SCHEDULE, steps_before=3, interval=1, steps_during=2, seed=1)
    kw = dict(epochs=3, batch_size=4, flossing=schedule, seed=1)
    whole = train_with_flossing(
        model, task["params"], *task["train"], task["loss"], _optimizer(model), checkpoint=tmp_path / "a.pkl", **kw
    )
    assert [r["epoch"] for r in whole.history["flossing"]] == [0, 1, 2]
    assert [r["n_steps"] for r in whole.history["flossing"]] == [3, 2, 2]
    assert len(whole.history["loss"]) == 3

    calls = []

    def interrupt(run):
        calls.append(run.step)
        if run.epoch == 1 and run.step == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_with_flossing(
            model, task["params"], *task["train"], task["loss"], _optimizer(model), checkpoint=tmp_path / "b.pkl",
            report=interrupt, **kw,
        )  # fmt: skip
    resumed = train_with_flossing(
        model, task["params"], *task["train"], task["loss"], _optimizer(model), checkpoint=tmp_path / "b.pkl", **kw
    )
    for name in model.trained:
        np.testing.assert_array_equal(resumed.params[name], whole.params[name])
    assert resumed.history["step_loss"] == whole.history["step_loss"]
    strip = [{k: v for k, v in r.items() if k != "cpu_seconds"} for r in whole.history["flossing"]]
    assert [{k: v for k, v in r.items() if k != "cpu_seconds"} for r in resumed.history["flossing"]] == strip
    # a longer run continues from the checkpoint: one more epoch, one more flossing phase
    longer = train_with_flossing(
        model, task["params"], *task["train"], task["loss"], _optimizer(model), checkpoint=tmp_path / "b.pkl",
        **{**kw, "epochs": 4},
    )  # fmt: skip
    assert longer.epoch == 4 and [r["epoch"] for r in longer.history["flossing"]] == [0, 1, 2, 3]


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_interleaved_flossing_moves_exponents_toward_target(seed):
    """Seeds 0-2 of the quick network (N = 20, K = 5; lambda_1 = 0, lambda_2,3 about -8 to -11 /s): 20
    flossing steps before training and 10 before each of 3 epochs, toward target 0; the tolerance:
    sum_{i <= 3} |lambda_i| of the trained network at most half its initial value (spectra over 3 s),
    while the same training without flossing leaves it above 0.7 of it."""
    task = _task(seed, n_train=16)
    model = task["model"]
    target = 0.0
    before, _ = _spectrum_distance(model, task["params"], target, seed)
    runs = {}
    for cond, steps in (("flossing", (20, 10)), ("plain", (0, 0))):
        schedule = FlossingSchedule(
            **SCHEDULE, target=target, steps_before=steps[0], interval=1, steps_during=steps[1], seed=seed
        )
        runs[cond] = train_with_flossing(
            model, task["params"], *task["train"], task["loss"], _optimizer(model), epochs=3, batch_size=8,
            flossing=schedule, seed=seed,
        )  # fmt: skip
    after, lam = _spectrum_distance(model, runs["flossing"].params, target, seed)
    plain, lam_plain = _spectrum_distance(model, runs["plain"].params, target, seed)
    assert after <= 0.5 * before, (before, after, lam)
    assert plain >= 0.7 * before, (before, plain, lam_plain)


def test_quick_cli_writes_outputs_and_resumes(tmp_path, capsys):
    args = ["--out", str(tmp_path / "out"), "--delays", "20", "--epochs", "1", "--n-train", "8", "--n-test", "8",
            "--floss-before", "3", "--floss-interval", "0"]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "delay (ms)  plain  flossing" in out
    record = json.loads((tmp_path / "out" / "record.json").read_text())
    assert {r["condition"] for r in record["runs"]} == {"plain", "flossing"}
    assert (tmp_path / "out" / "spiking_flossing.png").stat().st_size > 0
    assert len(list((tmp_path / "out" / "runs").glob("*.json"))) == 2
    # a restart reads the finished runs back: nothing is trained again
    assert main(args) == 0
    assert "test accuracy" not in capsys.readouterr().out.split("success rate")[0]
    assert json.loads((tmp_path / "out" / "record.json").read_text())["runs"] == record["runs"]
