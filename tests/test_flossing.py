"""Tests of brian2_sparseprop.rate.flossing (JAX): tasks, differentiable exponents, flossing, training; and of
its experiment (brian2_sparseprop.experiments.flossing): CLI, record, figure."""

import json

import numpy as np
import pytest

jax = pytest.importorskip("jax")
import jax.numpy as jnp  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from brian2_sparseprop.experiments.flossing import main, plot_flossing_experiment  # noqa: E402
from brian2_sparseprop.rate import lyapunov as rl  # noqa: E402
from brian2_sparseprop.rate.flossing import (  # noqa: E402
    FlossingSettings,
    delayed_parity,
    floss,
    flossing_loss,
    init_params,
    lyapunov_exponents,
    task_loss,
    train,
)

# Compiling the JAX functions dominates the run time of these tests, so the default tests share
# one configuration (an 'rnn' of N = 16, k = 3, washout 20, horizon 60, batches of 32 x 28 steps)
# and reuse the compiled functions; the LSTM and GRU variants run under the `slow` marker.
MODELS = ["rnn", pytest.param("lstm", marks=pytest.mark.slow), pytest.param("gru", marks=pytest.mark.slow)]
SETTINGS = dict(k=3, horizon=60, washout=20)


def binary_stream(seed, T):
    return delayed_parity(jax.random.key(seed), 1, T, (1,))[0][0]


# ----------------------------------------------------------------------------- task


@pytest.mark.parametrize("lags", [(3,), (2, 5), (1, 2, 4)])
def test_delayed_parity_targets(lags, seed):
    s, y, mask = delayed_parity(jax.random.key(seed), 3, 20, lags)
    bits = np.asarray(s[:, :, 0]) > 0
    expected = np.zeros_like(bits)
    for d in lags:
        expected[:, d:] ^= bits[:, :-d]
    m = np.asarray(mask)
    assert not m[: max(lags)].any() and m[max(lags) :].all()
    np.testing.assert_array_equal(np.asarray(y)[:, m] > 0.5, expected[:, m])
    assert set(np.unique(np.asarray(s))) <= {-1.0, 1.0}


# ----------------------------------------------------------------------------- exponents


def numpy_model(model, p):
    """The same network as a rate_lyapunov model (independent numpy tangent maps)."""
    p = {k: np.asarray(v, dtype=float) for k, v in p.items()}
    if model == "rnn":
        return rl.RNN(p["J"], b=p["b"], W_in=p["W_in"])
    cls = rl.LSTM if model == "lstm" else rl.GRU
    return cls(p["U"], W=p["W"], b=p["b"])


def compare_with_numpy(model, seed, N, T, washout):
    p = init_params(model, N, g=2.0, key=jax.random.key(seed))
    s = binary_stream(seed + 10, T)
    lam = np.asarray(lyapunov_exponents(p, s, model=model, k=3, washout=washout, key=jax.random.key(seed + 20)))
    dim = 2 * N if model == "lstm" else N
    ref = rl.lyapunov_spectrum(
        numpy_model(model, p),
        T - washout,
        k=3,
        n_transient_ons=washout,
        x0=np.zeros(dim),
        inputs=np.asarray(s),
        rng=seed,
    )
    return lam, ref.exponents.magnitude


def test_exponents_match_numpy_qr(seed):
    # the shapes of the flossing tests below (compiled once); 240 counted steps after a washout of
    # 20: the two estimates start from different tangent vectors, which costs ~ log(projection) /
    # 240 ~ 0.01 per step
    lam, ref = compare_with_numpy("rnn", seed, 16, SETTINGS["washout"] + 4 * SETTINGS["horizon"], SETTINGS["washout"])
    np.testing.assert_allclose(lam, ref, atol=0.03)


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.slow
def test_exponents_match_numpy_qr_long(model, seed):
    # 1400 counted steps: the initial-vector transient costs ~ 5 / 1400 per step
    lam, ref = compare_with_numpy(model, seed, 10, 1500, 100)
    np.testing.assert_allclose(lam, ref, atol=0.01)


@pytest.mark.parametrize("model", MODELS)
def test_flossing_loss_gradient_matches_finite_differences(model, seed):
    with jax.enable_x64(True):
        p = init_params(model, 6, g=1.5, key=jax.random.key(seed))
        w_in = "W_in" if model == "rnn" else "W"
        p[w_in] = 0.3 * p[w_in]  # moderate drive: saturated units make the loss very stiff
        s = binary_stream(seed + 1, 40)
        qkey = jax.random.key(seed + 2)

        def loss(q):
            return float(flossing_loss(q, s, model=model, k=3, washout=5, key=qkey))

        grads = jax.grad(lambda q: flossing_loss(q, s, model=model, k=3, washout=5, key=qkey))(p)
        rng = np.random.default_rng(seed)
        v = {k: jnp.asarray(rng.normal(size=a.shape)) for k, a in p.items()}

        def central(eps):
            plus = jax.tree_util.tree_map(lambda a, b: a + eps * b, p, v)
            minus = jax.tree_util.tree_map(lambda a, b: a - eps * b, p, v)
            return (loss(plus) - loss(minus)) / (2 * eps)

        eps = 1e-5
        # Richardson extrapolation cancels the O(eps**2) truncation error of central differences
        # (measured up to 5e-4 relative at eps = 1e-5); what remains is O(eps**4) and rounding
        # ~ 1e-16 |L| / eps ~ 1e-11
        fd = (4 * central(eps / 2) - central(eps)) / 3
        an = sum(float(jnp.vdot(grads[k], v[k])) for k in p)
        assert an == pytest.approx(fd, rel=1e-6, abs=1e-9)
        assert float(jnp.abs(grads["w_out"]).max()) == 0.0  # the readout does not enter the dynamics


# ----------------------------------------------------------------------------- flossing, training


@pytest.mark.slow  # a training run per seed: about 20 s each on a quiet machine
def test_flossing_drives_first_exponents_toward_zero(seed):
    """A short delayed-XOR run with flossing before and during training.

    Adam at a constant rate of 2e-2 brought the exponents near zero and then let the weights diffuse
    (the gradient is noisy, Adam's steps stay ~lr) until the network saturated: 7 of seeds 0-19
    passed. With the rate halving every 100 steps and the gradient norm clipped at 1, 20 of 20 passed
    (SPARSEPROP_SEEDS=0-19)."""
    k = SETTINGS["k"]
    p = init_params("rnn", 16, g=1.0, key=jax.random.key(seed))
    st = FlossingSettings(
        **SETTINGS, steps_before=500, interval=5, steps_during=2, lr=2e-2, lr_half_life=100, clip_norm=1.0
    )
    res = train(p, model="rnn", lags=(2, 4), n_steps=10, flossing=st, eval_every=5, key=jax.random.key(seed + 1))
    assert str(res.exponents_before.dimensionality) == str(res.exponents_after_flossing.dimensionality) == "1/step"
    before, after = np.abs(res.exponents_before.magnitude), np.abs(res.exponents_after_flossing.magnitude)
    assert before.shape == after.shape == (k,)
    # strongly driven tanh network: lambda_i ~ -0.6 per step at initialisation
    assert before.min() > 0.3
    assert after.max() < 0.5 * before.min()
    assert after.mean() < 0.15
    # and the flossed parameters, measured again on a fresh input stream
    s = binary_stream(seed + 7, 600)
    lam = np.asarray(lyapunov_exponents(res.params, s, model="rnn", k=k, washout=100, key=jax.random.key(seed + 3)))
    assert np.abs(lam).max() < 0.5 * before.min()


def test_floss_history_and_loss_decrease(seed):
    # same shapes as the test above, so the compiled flossing step is reused
    p = init_params("rnn", 16, g=1.0, key=jax.random.key(seed + 5))
    st = FlossingSettings(**SETTINGS, lr=1e-2)
    _, hist = floss(p, model="rnn", settings=st, n_steps=40, key=jax.random.key(seed + 1))
    assert hist.shape == (40, 3) and str(hist.dimensionality) == "1/step"
    loss = (hist.magnitude**2).sum(axis=1)
    assert loss[-10:].mean() < 0.5 * loss[:5].mean()


def test_training_learns_short_delayed_copy(seed):
    p = init_params("rnn", 16, g=1.0, key=jax.random.key(seed))
    res = train(
        p, model="rnn", lags=(1,), n_steps=300, seq_len=28, lr=1e-2, eval_every=100, key=jax.random.key(seed + 1)
    )
    assert res.steps.tolist() == [0, 100, 200, 300]
    assert res.final_accuracy > 0.95
    assert res.test_loss[-1] < 0.5 * res.test_loss[0]
    assert res.exponents_before.size == 0 and not res.interrupted


def test_task_loss_at_chance_for_zero_readout():
    p = init_params("rnn", 16, key=jax.random.key(0))
    p["w_out"] = jnp.zeros_like(p["w_out"])
    loss, acc = task_loss(p, *delayed_parity(jax.random.key(1), 32, 28, (2, 4)), model="rnn")
    assert float(loss) == pytest.approx(np.log(2), rel=1e-5)  # float32 sums


# ----------------------------------------------------------------------------- CLI


def test_cli_writes_record_and_figure(tmp_path, capsys):
    out = tmp_path / "exp"
    status = main(
        [
            "--N",
            "16",
            "--delays",
            "4",
            "--seeds",
            "2",
            "--train-steps",
            "4",
            "--k",
            "3",
            "--floss-steps",
            "2",
            "--floss-horizon",
            "60",
            "--floss-washout",
            "20",
            "--output",
            str(out),
        ]
    )
    assert status == 0
    record = json.loads((tmp_path / "exp.json").read_text())
    assert record["delays"] == [4]
    assert set(record["runs"]) == {"plain", "flossing"}
    assert len(record["runs"]["plain"]["4"]) == 2
    run = record["runs"]["flossing"]["4"][0]
    assert 0.0 <= run["final_accuracy"] <= 1.0 and run["lambda_max_after"] is not None
    assert (tmp_path / "exp.png").stat().st_size > 1000
    assert "success(flossing)" in capsys.readouterr().out
    fig = plot_flossing_experiment(record)
    assert isinstance(fig, Figure)
    success = [line.get_ydata()[0] for line in fig.axes[0].get_lines()]
    assert success == [
        np.mean([r["final_accuracy"] >= 0.9 for r in record["runs"][c]["4"]]) for c in ("plain", "flossing")
    ]


def test_cli_rejects_bad_count(tmp_path):
    with pytest.raises(SystemExit, match="--train-steps must be >= 1, found: 0"):
        main(["--train-steps", "0", "--output", str(tmp_path / "x")])


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(model="elman"), ValueError, "model must be one of"),
        (dict(N=0), ValueError, "N must be >= 1"),
        (dict(N=4.0), TypeError, "N must be an int"),
        (dict(g=0.0), ValueError, "g must be > 0, found: 0.0"),
        (dict(n_inputs=0), ValueError, "n_inputs must be >= 1"),
    ],
)
def test_init_params_bad_input(kwargs, exc, match):
    args = dict(model="rnn", N=4)
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        init_params(args.pop("model"), args.pop("N"), key=jax.random.key(0), **args)


@pytest.mark.parametrize(
    "lags, seq_len, exc, match",
    [
        ((), 10, TypeError, "lags must be a non-empty tuple"),
        (5, 10, TypeError, "lags must be a non-empty tuple"),
        ((0,), 10, ValueError, "each lag must be >= 1"),
        ((2, 2), 10, ValueError, "lags must be distinct"),
        ((4,), 4, ValueError, "seq_len must be > max"),
    ],
)
def test_delayed_parity_bad_input(lags, seq_len, exc, match):
    with pytest.raises(exc, match=match):
        delayed_parity(jax.random.key(0), 2, seq_len, lags)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(k=9), "k must be <= the state dimension 8"),
        (dict(washout=50), r"T > washout = 50"),
        (dict(model="tanh"), "model must be one of"),
    ],
)
def test_lyapunov_exponents_bad_input(kwargs, match):
    p = init_params("rnn", 8, key=jax.random.key(0))
    args = dict(model="rnn", k=2, washout=0)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        lyapunov_exponents(p, binary_stream(0, 50), key=jax.random.key(1), **args)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(k=0), ValueError, "k must be >= 1"),
        (dict(horizon=2.5), TypeError, "horizon must be an int"),
        (dict(interval=-1), ValueError, "interval must be >= 0"),
        (dict(lr=0.0), ValueError, "lr must be > 0, found: 0.0"),
        (dict(lr=float("nan")), ValueError, "lr must be finite"),
        (dict(lr_during=-1e-3), ValueError, "lr_during must be > 0, found: -0.001"),
        (dict(lr_half_life=0), ValueError, "lr_half_life must be > 0"),
        (dict(clip_norm="1"), TypeError, "clip_norm must be a real number"),
    ],
)
def test_flossing_settings_bad_input(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        FlossingSettings(**kwargs)


def test_floss_and_train_bad_input():
    p = init_params("rnn", 4, key=jax.random.key(0))
    with pytest.raises(TypeError, match="settings must be a FlossingSettings"):
        floss(p, model="rnn", settings={"k": 2}, key=jax.random.key(0))
    with pytest.raises(ValueError, match="settings.k must be <= the state dimension 4"):
        floss(p, model="rnn", settings=FlossingSettings(k=5), key=jax.random.key(0))
    with pytest.raises(TypeError, match="flossing must be None or a FlossingSettings"):
        train(p, model="rnn", lags=(2,), n_steps=1, flossing=3, key=jax.random.key(0))
    with pytest.raises(ValueError, match="lr must be > 0, found: -1.0"):
        train(p, model="rnn", lags=(2,), n_steps=1, lr=-1.0, key=jax.random.key(0))
    with pytest.raises(ValueError, match=r"seq_len must be > max\(lags\) = 5"):
        train(p, model="rnn", lags=(5,), n_steps=1, seq_len=5, key=jax.random.key(0))
    with pytest.raises(ValueError, match="clip_norm must be > 0, found: 0.0"):
        train(p, model="rnn", lags=(2,), n_steps=1, clip_norm=0.0, key=jax.random.key(0))


# ----------------------------------------------------------------------------- interrupts


def test_train_keeps_metrics_when_interrupted(monkeypatch):
    from brian2_sparseprop.rate import flossing as fl

    real = fl._task_grad
    calls = {"n": 0}

    def grad_then_interrupt(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(fl, "_task_grad", grad_then_interrupt)
    p = init_params("rnn", 16, key=jax.random.key(0))
    res = train(p, model="rnn", lags=(2, 4), n_steps=10, eval_every=1, key=jax.random.key(1))
    assert res.interrupted
    assert res.steps.tolist() == [0, 1, 2]


def test_cli_stops_and_keeps_finished_runs_when_interrupted(monkeypatch, tmp_path, capsys):
    from brian2_sparseprop.experiments import flossing as fl

    real = fl.train
    calls = {"n": 0}

    def train_then_interrupt(*args, **kwargs):
        calls["n"] += 1
        res = real(*args, **kwargs)
        res.interrupted = calls["n"] > 2
        return res

    monkeypatch.setattr(fl, "train", train_then_interrupt)
    out = tmp_path / "exp"
    main(
        [
            "--N",
            "16",
            "--delays",
            "4",
            "--seeds",
            "3",
            "--train-steps",
            "2",
            "--k",
            "3",
            "--floss-steps",
            "1",
            "--floss-horizon",
            "60",
            "--floss-washout",
            "20",
            "--output",
            str(out),
        ]
    )
    assert calls["n"] == 3  # stopped at the first interrupted run
    record = json.loads((tmp_path / "exp.json").read_text())
    assert record["delays"] == []  # no delay has all its seeds
    assert len(record["runs"]["plain"]["4"]) == len(record["runs"]["flossing"]["4"]) == 1
    assert not (tmp_path / "exp.png").exists()
    assert "interrupted" in capsys.readouterr().err


SMALL = ["--N", "16", "--delays", "4", "--train-steps", "2", "--k", "3", "--floss-steps", "1"]
SMALL += ["--floss-horizon", "30", "--floss-washout", "10"]


def test_cli_resumes_where_it_stopped(monkeypatch, tmp_path):
    from brian2_sparseprop.experiments import flossing as fl

    real = fl.train
    calls = []

    def train_then_interrupt(*args, **kwargs):
        calls.append(kwargs["flossing"] is not None)
        res = real(*args, **kwargs)
        res.interrupted = len(calls) == 3
        return res

    monkeypatch.setattr(fl, "train", train_then_interrupt)
    out = str(tmp_path / "exp")
    main([*SMALL, "--seeds", "2", "--output", out])
    first = json.loads((tmp_path / "exp.json").read_text())["runs"]
    assert len(calls) == 3 and first["plain"]["4"][0]["seed"] == 0
    main([*SMALL, "--seeds", "2", "--output", out])  # goes on: the third run again, then the fourth
    assert len(calls) == 5
    record = json.loads((tmp_path / "exp.json").read_text())
    assert record["delays"] == [4]
    assert [r["seed"] for r in record["runs"]["plain"]["4"]] == [0, 1]
    assert [r["seed"] for r in record["runs"]["flossing"]["4"]] == [0, 1]
    assert record["runs"]["plain"]["4"][0] == first["plain"]["4"][0]  # a finished run is kept, not redone
    main([*SMALL, "--seeds", "3", "--output", out])  # one more seed: two more runs
    assert len(calls) == 7
    with pytest.raises(SystemExit, match=r"other settings \(N: 16 there, 20 now\): choose another --output"):
        main([*SMALL, "--seeds", "3", "--N", "20", "--output", out])


def test_flossing_phases_during_training_are_counted(monkeypatch):
    from brian2_sparseprop.rate import flossing as fl

    real = fl._floss_loop
    lengths = []

    def counting(params, state, model, settings, lrs, levels, key):
        if len(lrs):  # train() validates its settings with a call of no step
            lengths.append(len(lrs))
        return real(params, state, model, settings, lrs, levels, key)

    monkeypatch.setattr(fl, "_floss_loop", counting)
    p = init_params("rnn", 8, key=jax.random.key(0))
    for phases, expected in ((2, [3, 1, 1]), (None, [3, 1, 1, 1, 1]), (0, [3])):
        lengths.clear()
        st = FlossingSettings(
            k=2, horizon=10, washout=5, steps_before=3, interval=2, steps_during=1, phases_during=phases
        )
        train(p, model="rnn", lags=(1,), n_steps=9, flossing=st, eval_every=9, key=jax.random.key(1))
        assert lengths == expected
    with pytest.raises(ValueError, match="phases_during"):
        FlossingSettings(phases_during=-1)


def test_cli_preset_paper_sets_defaults_and_explicit_options_win():
    from brian2_sparseprop.experiments.flossing import PRESETS, _parse

    a = _parse(["--preset", "paper"])
    assert (a.N, a.k, a.seq_len, a.batch_size, a.train_steps, a.clip_norm) == (80, 75, 300, 16, 3001, 0.03)
    assert (a.floss_steps, a.floss_interval, a.floss_steps_during, a.floss_phases) == (50, 10, 50, 2)
    assert a.floss_horizon + a.floss_washout == 55 and a.input_levels == [0.0, 1.0]
    assert _parse(["--preset", "paper", "--k", "40", "--delays", "60"]).k == 40
    assert _parse(["--preset", "paper", "--delays", "60"]).delays == [60]
    assert _parse([]).k == 8 and set(PRESETS) == {"paper"}


@pytest.mark.parametrize("levels", [(-1.0, 1.0), (0.0, 1.0), (0.5, -2.0)])
def test_delayed_parity_input_levels(levels):
    s1, y1, m1 = delayed_parity(jax.random.key(3), 4, 30, (2, 5))
    s2, y2, m2 = delayed_parity(jax.random.key(3), 4, 30, (2, 5), levels)
    assert bool(jnp.all(y1 == y2)) and bool(jnp.all(m1 == m2))  # the same bits, other values
    assert bool(jnp.all(s2 == jnp.where(s1 > 0, levels[1], levels[0])))


@pytest.mark.parametrize(
    "levels, exc, match",
    [
        ((1.0, 1.0), ValueError, "levels must differ"),
        ((0.0,), TypeError, "pair of numbers"),
        ((0, np.nan), ValueError, "levels"),
    ],
)
def test_input_levels_bad_input(levels, exc, match):
    with pytest.raises(exc, match=match):
        delayed_parity(jax.random.key(0), 1, 10, (2,), levels)
    p = init_params("rnn", 8, key=jax.random.key(0))
    with pytest.raises(exc, match=match):
        train(p, model="rnn", lags=(1,), n_steps=2, levels=levels, key=jax.random.key(1))
