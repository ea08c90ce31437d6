"""Training with exact gradients (issue 11, item 4): the Yin-Yang data set rebuilt exactly, the latency
encoding, minibatches as copies of one network (their gradient is the sum of the samples' gradients),
optax training that lowers the loss, checkpoints that resume to the uninterrupted result, bad input."""

import numpy as np
import pytest

from brian2_sparseprop import EventNetwork
from brian2_sparseprop.datasets import latency_encode, yin_yang, yin_yang_class

jax = pytest.importorskip("jax")
optax = pytest.importorskip("optax")

from brian2_sparseprop.spiking.training import (  # noqa: E402
    TrainableNetwork,
    TrainingRun,
    first_spike_cross_entropy,
    train,
)


# ---------------------------------------------------------------------------------------------- data set
@pytest.mark.parametrize(
    ("split", "counts", "first"),
    [
        ("train", [1681, 1702, 1617], [0.68030754, 0.45049925, 0.31969246, 0.54950075]),
        ("validation", [316, 336, 348], None),
        ("test", [350, 316, 334], [0.23409665, 0.40172498, 0.76590335, 0.59827502]),
    ],
)
def test_yin_yang_splits_match_the_published_counts_and_first_samples(split, counts, first):
    features, labels = yin_yang(split)
    assert features.shape == (sum(counts), 4)
    assert np.bincount(labels).tolist() == counts
    if first is not None:  # published to 8 decimals
        np.testing.assert_allclose(features[0], first, atol=5e-9)
    np.testing.assert_array_equal(features[:, 2:], 1 - features[:, :2])
    assert (np.hypot(features[:, 0] - 0.5, features[:, 1] - 0.5) <= 0.5).all()
    np.testing.assert_array_equal(yin_yang_class(features[:, 0], features[:, 1]), labels)


def test_yin_yang_prefix_and_seed():
    features, labels = yin_yang("train", n_samples=10)
    full, full_labels = yin_yang("train")
    np.testing.assert_array_equal(features, full[:10])
    np.testing.assert_array_equal(labels, full_labels[:10])
    other, _ = yin_yang("train", n_samples=10, seed=7)
    assert not np.array_equal(other, features)


def test_latency_encoding_is_eventprops_in_seconds():
    x = np.array([[0.0, 1.0, 0.25, 0.5]])
    t = latency_encode(x)
    np.testing.assert_allclose(t, [[0.010, 0.040, 0.0175, 0.025, 0.020]], rtol=1e-15)
    t = latency_encode(x, t_early=0.0, t_late=0.1, bias_times=())
    np.testing.assert_allclose(t, 0.1 * x, rtol=1e-15)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: yin_yang("training"), ValueError, "split must be one of"),
        (lambda: yin_yang("test", n_samples=-1), ValueError, "n_samples must be >= 0"),
        (lambda: yin_yang("test", seed=1.5), TypeError, "seed must be an integer"),
        (lambda: latency_encode([0.1, 0.2]), ValueError, "features must be 2-dimensional"),
        (lambda: latency_encode([[0.1, 1.2]]), ValueError, r"features must be in \[0, 1\], found 1.2"),
        (lambda: latency_encode([[0.1]], t_early=-0.01), ValueError, "t_early must be >= 0"),
        (lambda: latency_encode([[0.1]], bias_times=[-1.0]), ValueError, "bias_times must be >= 0"),
    ],
)
def test_dataset_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


# ---------------------------------------------------------------------------------------------- networks
def _random_model(rng, n=6, n_inputs=3, n_readout=2, n_first=2, trained=("weights", "input_weights", "drive")):
    """A small recurrent LIF network with delays, refractoriness and suprathreshold drives, and its inputs."""
    mask = (rng.random((n, n)) < 0.4) & ~np.eye(n, dtype=bool)
    indptr = np.concatenate([[0], np.cumsum(mask.sum(1))])
    indices = np.nonzero(mask)[1]
    in_mask = rng.random((n_inputs, n)) < 0.6
    model = TrainableNetwork(
        n,
        indptr,
        indices,
        n_inputs=n_inputs,
        input_indptr=np.concatenate([[0], np.cumsum(in_mask.sum(1))]),
        input_indices=np.nonzero(in_mask)[1],
        readout=np.arange(n_readout),
        duration=0.06,
        n_first=n_first,
        tau=0.01,
        drive=1.3,
        refractory=0.002,
        delays=rng.uniform(0.0005, 0.003, mask.sum()),
        input_delays=0.001,
        trained=trained,
    )
    params = {
        "weights": rng.normal(0, 0.15, mask.sum()),
        "input_weights": rng.normal(0, 0.15, in_mask.sum()),
        "drive": rng.uniform(1.1, 1.5, n),
    }
    return model, {k: params[k] for k in trained}


def _target_loss(t, targets):
    return ((t - targets) ** 2).sum() * 1e4


def _reference_gradient(model, params, times, targets):
    """The gradient of one sample through an EventNetwork built by hand (no tiling), its loss's derivative
    by the first spikes written out: the independent reference of the batched computation."""
    fixed = model._fixed
    net = EventNetwork(
        model.n,
        tau=fixed["tau"],
        drive=params["drive"],
        threshold=fixed["threshold"],
        reset=fixed["reset"],
        refractory=fixed["refractory"],
        indptr=model._indptr,
        indices=model._indices,
        weights=params["weights"],
        delays=fixed["delays"],
    )
    ok = np.isfinite(times)
    net.add_spike_generator(
        times[ok],
        np.flatnonzero(ok),
        model.n_inputs,
        model._in_indptr,
        model._in_indices,
        weights=params["input_weights"],
        delays=fixed["input_delays"],
    )
    net.run(model.duration, record_tape=True)
    dL = np.zeros(net.spike_times.size)
    loss = 0.0
    for r, neuron in enumerate(model.readout):
        spikes = np.flatnonzero(net.spike_indices == neuron)
        for k in range(model.n_first):
            t = net.spike_times[spikes[k]] if k < spikes.size else model.duration
            loss += (t - targets[r, k]) ** 2 * 1e4
            if k < spikes.size:
                dL[spikes[k]] = 2 * (t - targets[r, k]) * 1e4
    g = net.gradient(dL)
    return loss, {"weights": g.weights, "input_weights": g.generator_weights[0], "drive": g.drive}


def test_batched_gradient_is_the_sum_of_the_samples_gradients(rng):
    model, params = _random_model(rng)
    b = 5
    times = rng.uniform(0.0, 0.03, (b, model.n_inputs))
    times[rng.random(times.shape) < 0.2] = np.inf  # some inputs silent
    targets = rng.uniform(0.005, 0.05, (b, 2, 2))
    batch = model.loss_and_gradient(params, times, targets, _target_loss)
    assert batch.first_spikes.shape == (b, 2, 2) and batch.n_spikes > 0
    ref = [_reference_gradient(model, params, times[s], targets[s]) for s in range(b)]
    assert batch.loss == pytest.approx(sum(r[0] for r in ref), rel=1e-12)
    for name in model.trained:
        expected = np.sum([r[1][name] for r in ref], axis=0)
        # the copies are disconnected and run the same arithmetic: equal to rounding of the sums
        np.testing.assert_allclose(batch.gradient[name], expected, rtol=1e-9, atol=1e-9 * np.abs(expected).max())


def test_batched_gradient_matches_finite_differences(rng):
    model, params = _random_model(rng, trained=("input_weights", "drive"))
    times = rng.uniform(0.0, 0.03, (3, model.n_inputs))
    targets = rng.uniform(0.005, 0.05, (3, 2, 2))
    batch = model.loss_and_gradient(params, times, targets, _target_loss)
    h = 1e-7
    for name in model.trained:
        k = int(np.argmax(np.abs(batch.gradient[name])))
        values = []
        for sign in (1, -1):
            p = {key: v.copy() for key, v in params.items()}
            p[name][k] += sign * h
            values.append(float(_target_loss(model.first_spikes(p, times), targets)))
        fd = (values[0] - values[1]) / (2 * h)
        # central differences of h = 1e-7 on a loss of size ~1: truncation and rounding near 1e-6 relative
        assert batch.gradient[name][k] == pytest.approx(fd, rel=1e-4, abs=1e-6), name


def test_first_spike_cross_entropy_prefers_the_earliest_neuron():
    loss = first_spike_cross_entropy(0.005)
    t = np.array([[[0.010], [0.020], [0.030]], [[0.030], [0.020], [0.010]]])
    with jax.enable_x64(True):  # as train and loss_and_gradient call it
        value = float(loss(t, np.array([0, 2])))
        worse = float(loss(t, np.array([2, 0])))
    z = np.array([-2.0, -4.0, -6.0])
    assert value == pytest.approx(-(z[0] - np.log(np.exp(z).sum())), rel=1e-12)
    assert worse > value


@pytest.mark.parametrize("layers", [(5, 60, 3), (2, 4), (3, 4, 2, 5), (1, 1, 1)])
def test_feedforward_connects_each_layer_to_the_next(layers):
    model = TrainableNetwork.feedforward(layers, duration=0.05, trained=["weights"])
    sizes = layers[1:]
    layer = np.repeat(np.arange(len(sizes)), sizes)  # the layer of each neuron
    assert model.n == sum(sizes) and model.n_inputs == layers[0]
    for j in range(model.n):  # an independent check, neuron by neuron: all of the next layer, in order
        expected = np.flatnonzero(layer == layer[j] + 1)
        np.testing.assert_array_equal(model._indices[model._indptr[j] : model._indptr[j + 1]], expected)
    for s in range(layers[0]):  # each input onto all of the first layer
        np.testing.assert_array_equal(
            model._in_indices[model._in_indptr[s] : model._in_indptr[s + 1]], np.arange(sizes[0])
        )
    np.testing.assert_array_equal(model.readout, np.flatnonzero(layer == len(sizes) - 1))


@pytest.mark.parametrize(
    ("layers", "error", "match"),
    [
        ((5,), ValueError, "at least one layer"),
        ((0, 3), ValueError, "layers\\[0\\]"),
        ((2, 3.0), TypeError, "layers\\[1\\]"),
    ],
)
def test_feedforward_bad_layers(layers, error, match):
    with pytest.raises(error, match=match):
        TrainableNetwork.feedforward(layers, duration=0.05, trained=["weights"])


def test_gap_to_threshold_of_a_silent_neuron_in_closed_form():
    # one LIF neuron below threshold (drive 0.5) with one input at t_in: v(T) = 0.5 (1 - e^{-T/tau})
    # + w e^{-(T - t_in)/tau}, so the gap 1 - v(T) has dgap/dw = -e^{-(T - t_in)/tau} and
    # dgap/ddrive = -(1 - e^{-T/tau})
    tau, duration, t_in, w = 0.01, 0.03, 0.012, 0.2
    model = TrainableNetwork(1, [0, 0], [], n_inputs=1, input_indptr=[0, 1], input_indices=[0], readout=[0],
                             duration=duration, tau=tau, trained=["input_weights", "drive"])  # fmt: skip
    params = {"input_weights": np.array([w]), "drive": np.array([0.5])}
    seen = []

    def loss(first, target, gap):
        seen.append(gap)
        return gap[0, 0]

    step = model.loss_and_gradient(params, [[t_in]], None, loss)
    decay, rise = np.exp(-(duration - t_in) / tau), 1 - np.exp(-duration / tau)
    assert step.first_spikes[0, 0, 0] == duration  # silent
    assert step.loss == pytest.approx(1 - 0.5 * rise - w * decay, rel=1e-14)
    assert step.gradient["input_weights"][0] == pytest.approx(-decay, rel=1e-13)
    assert step.gradient["drive"][0] == pytest.approx(-rise, rel=1e-13)
    # once it fires (drive 1.2), the gap is 0 and carries no gradient
    step = model.loss_and_gradient({**params, "drive": np.array([1.2])}, [[t_in]], None, loss)
    assert step.loss == 0 and step.first_spikes[0, 0, 0] < duration
    assert step.gradient["input_weights"][0] == 0 and step.gradient["drive"][0] == 0


def test_silent_label_term_matches_finite_differences(rng):
    # output 0 driven below threshold (silent unless kicks lift it), output 1 above: with labels 0 and 1
    # alternating, the label neuron is silent in some samples and fires in others
    model, params = _random_model(rng, trained=("input_weights", "drive"))
    params["drive"][:2] = [0.7, 1.2]
    times = rng.uniform(0.0, 0.03, (6, model.n_inputs))
    labels = np.array([0, 1] * 3)
    loss = first_spike_cross_entropy(0.005, silent_weight=1.5)
    batch = model.loss_and_gradient(params, times, labels, loss)
    label_silent = batch.first_spikes[np.arange(6), labels, 0] == model.duration
    assert label_silent.any() and not label_silent.all()  # both branches of the loss are exercised

    def value(p):
        return model.loss_and_gradient(p, times, labels, loss).loss

    h = 1e-7
    for name in model.trained:
        for k in np.argsort(-np.abs(batch.gradient[name]))[:3]:
            up = {key: v.copy() for key, v in params.items()}
            down = {key: v.copy() for key, v in params.items()}
            up[name][k] += h
            down[name][k] -= h
            fd = (value(up) - value(down)) / (2 * h)
            assert batch.gradient[name][k] == pytest.approx(fd, rel=1e-5, abs=1e-7), (name, k)


def test_silent_weight_lifts_an_all_silent_readout():
    # all outputs silent: plain cross-entropy is ln C with zero gradient, the guarded loss is not
    model = TrainableNetwork(2, [0, 0, 0], [], n_inputs=1, input_indptr=[0, 2], input_indices=[0, 1],
                             readout=[0, 1], duration=0.05, tau=0.01, drive=0.8, trained=["input_weights"])  # fmt: skip
    params = {"input_weights": np.array([0.05, 0.05])}
    plain = model.loss_and_gradient(params, [[0.01]], np.array([1]), first_spike_cross_entropy(0.002))
    assert plain.loss == pytest.approx(np.log(2), rel=1e-14) and not plain.gradient["input_weights"].any()
    guarded = model.loss_and_gradient(
        params, [[0.01]], np.array([1]), first_spike_cross_entropy(0.002, silent_weight=1.0)
    )
    # only the label neuron (1) is lifted: a larger input weight raises its v(T), lowering the loss
    assert guarded.gradient["input_weights"][0] == 0
    assert guarded.gradient["input_weights"][1] == pytest.approx(-np.exp(-4.0), rel=1e-13)


def test_training_lowers_the_loss_at_every_step(seed):
    # a tiny recurrent problem (4 neurons, weak recurrence, reachable targets) and small Adam steps: the
    # gradient is exact, so every step goes down while no spike appears or vanishes (20 seeds checked)
    rng = np.random.default_rng(seed)
    model, params = _random_model(rng, n=4, n_inputs=3, n_readout=2, n_first=1)
    params["weights"] *= 0.3
    times = rng.uniform(0.0, 0.03, (4, model.n_inputs))
    first = model.first_spikes(params, times)
    targets = first + rng.uniform(-0.003, 0.003, first.shape)
    run = train(model, params, times, targets, _target_loss, optax.adam(0.002), epochs=6, batch_size=4, seed=seed)
    losses = np.array(run.history["step_loss"])
    assert losses.size == 6 and run.epoch == 6
    assert (np.diff(losses) < 0).all(), losses
    assert losses[-1] < 0.95 * losses[0], losses


def _yin_yang_lif_exp(seed, hidden=12, samples=40):
    """A small Yin-Yang network of 'lif_exp' neurons (EventProp's model), its parameters and a batch."""
    model = TrainableNetwork.feedforward(
        (5, hidden, 3), duration=0.1, tau=0.02, refractory=0.1, model="lif_exp", tau_e=0.005, tau_i=0.005,
        trained=("weights", "input_weights", "drive"),
    )  # fmt: skip
    rng = np.random.default_rng(seed)
    params = {
        "weights": rng.normal(0.2, 0.4, hidden * 3),
        "input_weights": rng.normal(0.0, 0.6, 5 * hidden),
        "drive": np.concatenate([rng.uniform(1.1, 1.3, hidden), np.full(3, 1.05)]),
    }
    x, y = yin_yang("train", n_samples=samples, seed=seed)
    return model, params, latency_encode(x), y


def test_lif_exp_batched_gradient_matches_finite_differences(seed):
    model, params, inputs, labels = _yin_yang_lif_exp(seed, samples=10)
    loss = first_spike_cross_entropy(0.002, 1.0)
    step = model.loss_and_gradient(params, inputs, labels, loss)
    assert step.n_pulse_triggered == 0 and step.n_coincident == 0
    rng = np.random.default_rng(seed)
    h = 1e-7
    for name in model.trained:
        direction = rng.normal(size=model.shapes[name])
        values = []
        for sign in (1, -1):
            p = dict(params, **{name: params[name] + sign * h * direction})
            values.append(model.loss_and_gradient(p, inputs, labels, loss).loss)
        fd = (values[0] - values[1]) / (2 * h)
        assert step.gradient[name] @ direction == pytest.approx(fd, rel=1e-5, abs=1e-7), name


def test_lif_exp_training_step_lowers_the_loss(seed):
    # one gradient step on a Yin-Yang batch with EventProp's neuron model: the loss goes down by the first
    # order prediction eta |g|^2 (the gradient is exact; the step is small enough to keep the spikes)
    model, params, inputs, labels = _yin_yang_lif_exp(seed)
    loss = first_spike_cross_entropy(0.002, 1.0)
    step = model.loss_and_gradient(params, inputs, labels, loss)
    norm2 = sum(float(g @ g) for g in step.gradient.values())
    eta = 1e-5 / np.sqrt(norm2)
    after = model.loss_and_gradient({k: params[k] - eta * step.gradient[k] for k in params}, inputs, labels, loss)
    assert after.loss < step.loss
    assert step.loss - after.loss == pytest.approx(eta * norm2, rel=1e-3)
    # and optax's Adam over a few steps on the batch
    run = train(model, params, inputs, labels, loss, optax.adam(0.01), epochs=3, batch_size=inputs.shape[0], seed=0)
    assert run.history["step_loss"][-1] < run.history["step_loss"][0]


def _interrupt_at(step):
    calls = []

    def report(run):
        calls.append(run.step)
        if len(calls) == step:
            raise KeyboardInterrupt

    return report


def test_resume_from_a_checkpoint_gives_the_uninterrupted_result(tmp_path, seed):
    rng = np.random.default_rng(seed)
    model, params = _random_model(rng, n_first=1)
    times = rng.uniform(0.0, 0.03, (6, model.n_inputs))
    targets = model.first_spikes(params, times) + 0.002
    args = (model, params, times, targets, _target_loss, optax.adam(0.01))
    whole = train(*args, epochs=3, batch_size=4, seed=seed)
    path = tmp_path / "run.pkl"
    train(*args, epochs=1, batch_size=4, seed=seed, checkpoint=path)  # stops after epoch 1
    with pytest.raises(KeyboardInterrupt):  # interrupted within epoch 2, after its first step
        train(*args, epochs=3, batch_size=4, seed=seed, checkpoint=path, report=_interrupt_at(1))
    with open(path, "rb") as f:
        import pickle

        saved = pickle.load(f)
    assert isinstance(saved, TrainingRun) and (saved.epoch, saved.step) == (1, 1)
    resumed = train(*args, epochs=3, batch_size=4, seed=seed, checkpoint=path)
    for name in model.trained:
        np.testing.assert_array_equal(resumed.params[name], whole.params[name])
    assert resumed.history["step_loss"] == whole.history["step_loss"]
    assert resumed.history["loss"] == whole.history["loss"]
    again = train(*args, epochs=3, batch_size=4, seed=seed, checkpoint=path)  # finished: nothing to do
    assert again.history["step_loss"] == whole.history["step_loss"]
    with pytest.raises(ValueError, match="was written by a run with"):
        train(*args, epochs=3, batch_size=2, seed=seed, checkpoint=path)


def test_report_text_prints_each_epoch(capsys):
    model, params = _random_model(np.random.default_rng(0), n_first=1)
    times = np.full((2, model.n_inputs), 0.01)
    train(
        model, params, times, np.zeros((2, 2, 1)), _target_loss, optax.sgd(0.0), epochs=2, batch_size=2, report="text"
    )
    out = capsys.readouterr().out
    assert "epoch 1/2: loss" in out and "epoch 2/2: loss" in out and "pulse-triggered spikes" in out


def test_report_tqdm_and_callable(capsys):
    model, params = _random_model(np.random.default_rng(0), n_first=1)
    times = np.full((4, model.n_inputs), 0.01)
    seen = []
    run = train(
        model, params, times, np.zeros((4, 2, 1)), _target_loss, optax.sgd(0.0), epochs=2, batch_size=2,
        report=lambda r: seen.append((r.epoch, r.step, r.history["step_loss"][-1])),
    )  # fmt: skip
    assert [s[:2] for s in seen] == [(0, 1), (0, 2), (1, 1), (1, 2)]
    assert [s[2] for s in seen] == run.history["step_loss"]
    train(
        model, params, times, np.zeros((4, 2, 1)), _target_loss, optax.sgd(0.0), epochs=1, batch_size=2, report="tqdm"
    )
    assert "2/2" in capsys.readouterr().err  # the bar's last state: 2 of 2 batches


# ---------------------------------------------------------------------------------------------- bad input
def _model(**kw):
    args = dict(n_inputs=1, input_indptr=[0, 1], input_indices=[0], readout=[0], duration=0.03, tau=0.01, drive=1.2)
    args.update(kw)
    return TrainableNetwork(2, [0, 1, 1], [1], **args)


@pytest.mark.parametrize(
    ("kw", "error", "match"),
    [
        (dict(readout=[0, 0]), ValueError, "readout must hold distinct neurons"),
        (dict(readout=[2]), ValueError, r"readout must hold distinct neurons in \[0, 2\)"),
        (dict(readout=[0.5]), TypeError, "readout must be a non-empty 1-d array"),
        (dict(duration=0.0), ValueError, "duration must be > 0"),
        (dict(trained=["tau"]), ValueError, "trained parameters must be among"),
        (dict(trained="weights"), TypeError, "trained must be a sequence"),
        (dict(n_first=0), ValueError, "n_first must be >= 1"),
        (dict(input_indices=[5]), ValueError, "input connectivity"),
        (dict(tau=-0.01), ValueError, "tau must be > 0"),
        (dict(drive=[1.2, 1.2, 1.2]), ValueError, r"drive must be a scalar or have shape \(2,\)"),
        (dict(input_weights="a"), TypeError, "input_weights"),
        (dict(model="eif"), ValueError, "model must be 'lif', 'lif_exp', 'qif' or 'theta'"),
        (dict(model="lif_exp", tau_e=0.0), ValueError, "tau_e must be > 0"),
    ],
)
def test_trainable_network_bad_input(kw, error, match):
    with pytest.raises(error, match=match):
        _model(**kw)


def _loss(t, y):
    return t.sum()


GOOD = {"weights": np.array([0.1]), "input_weights": np.array([0.1])}


@pytest.mark.parametrize(
    ("params", "times", "error", "match"),
    [
        ({"weights": np.array([0.1])}, [[0.01]], ValueError, "params must have the keys"),
        ([0.1], [[0.01]], TypeError, "params must be a dict"),
        ({**GOOD, "weights": np.array([0.1, 0.2])}, [[0.01]], ValueError, r"params\['weights'\] must have shape"),
        ({**GOOD, "weights": np.array([np.nan])}, [[0.01]], ValueError, r"params\['weights'\] must be finite"),
        ({**GOOD, "weights": np.array(["a"])}, [[0.01]], TypeError, "must be an array of real numbers"),
        (GOOD, [0.01], ValueError, r"input_times must have shape \(batch, 1\)"),
        (GOOD, [[-0.01]], ValueError, "input_times must be >= 0"),
        (GOOD, [[np.nan]], ValueError, "input_times must be >= 0"),
        (GOOD, np.zeros((0, 1)), ValueError, "at least one sample"),
    ],
)
def test_loss_and_gradient_bad_input(params, times, error, match):
    with pytest.raises(error, match=match):
        _model().loss_and_gradient(params, times, np.zeros(1), _loss)


@pytest.mark.parametrize(
    ("kw", "error", "match"),
    [
        (dict(optimizer=lambda g: g), TypeError, "optimizer must be an optax.GradientTransformation"),
        (dict(targets=np.zeros(3)), ValueError, r"targets must have one entry per sample \(2\)"),
        (dict(epochs=1.0), TypeError, "epochs must be an integer"),
        (dict(batch_size=0), ValueError, "batch_size must be >= 1"),
        (dict(report="bar"), ValueError, "report must be None, 'text', 'tqdm' or a callable"),
        (dict(loss=3), TypeError, "loss must be a callable"),
        (dict(model=object()), TypeError, "model must be a TrainableNetwork"),
    ],
)
def test_train_bad_input(kw, error, match):
    args = dict(
        model=_model(),
        params=GOOD,
        input_times=[[0.01], [0.02]],
        targets=np.zeros(2),
        loss=_loss,
        optimizer=optax.sgd(0.1),
        epochs=1,
        batch_size=2,
    )
    args.update(kw)
    with pytest.raises(error, match=match):
        train(**args)
