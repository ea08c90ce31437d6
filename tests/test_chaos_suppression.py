"""Tests of chaos suppression: the points (library) and the experiments on them (resumable sweeps on any
executor, CLI, figures), theory against simulation."""

import concurrent.futures
import json
import os

import numpy as np
import pytest
import quantities as pq
from matplotlib.figure import Figure

from brian2_sparseprop.experiments.balanced import (
    critical_amplitude_sweep,
    learning_vs_amplitude,
    lyapunov_vs_amplitude,
    main,
    plot_critical_amplitude,
    plot_learning,
    plot_lyapunov_vs_amplitude,
)
from brian2_sparseprop.experiments.sweep import run_sweep
from brian2_sparseprop.rate import meanfield
from brian2_sparseprop.rate.chaos_suppression import (
    critical_amplitude,
    learning_point,
    network_point,
    quasi_static_critical_amplitude,
    theory_point,
)
from brian2_sparseprop.rate.meanfield import stationary_dmft

_FAST = dict(t_transient=2.0, t_measure=5.0, dt=0.2)


def _points():
    return [dict(g=2.0, I1=I1, f=0.2, kind="common", N=1000, **_FAST) for I1 in (0.0, 3.0)]


def test_sweep_writes_one_file_per_point_and_resumes(tmp_path):
    first = run_sweep(theory_point, _points(), tmp_path, n_workers=2)
    files = sorted(tmp_path.glob("theory_point-*.json"))
    assert len(files) == 2
    stamps = {f: f.stat().st_mtime_ns for f in files}
    assert run_sweep(theory_point, _points(), tmp_path, n_workers=2) == first  # loaded, not recomputed
    assert {f: f.stat().st_mtime_ns for f in files} == stamps
    files[0].unlink()  # an "interrupted" sweep: one point missing
    again = run_sweep(theory_point, _points(), tmp_path, n_workers=1)
    assert again == first
    assert files[1].stat().st_mtime_ns == stamps[files[1]]
    saved = json.loads(files[0].read_text())
    assert saved["params"]["I1"] in (0.0, 3.0) and "lambda1" in saved["result"]


def test_sweep_keeps_finished_points_when_one_fails(tmp_path):
    points = _points() + [dict(g=2.0, I1=1.0, f=0.2, kind="bogus", N=1000, **_FAST)]
    with pytest.raises(RuntimeError, match="1 of 3 sweep points failed.*bogus"):
        run_sweep(theory_point, points, tmp_path, n_workers=2)
    assert len(list(tmp_path.glob("theory_point-*.json"))) == 2


@pytest.mark.parametrize(
    "args, error, match",
    [
        (("not callable", []), TypeError, "task must be callable"),
        ((theory_point, [1]), TypeError, "every point must be a dict"),
        ((theory_point, [], "x", 0), ValueError, "n_workers must be >= 1"),
        ((theory_point, [], "x", 1.5), TypeError, "n_workers must be an integer"),
    ],
)
def test_sweep_errors(tmp_path, args, error, match):
    task, points, *rest = args
    with pytest.raises(error, match=match):
        run_sweep(task, points, tmp_path / "out", *rest[1:])


def test_sweep_runs_one_worker_in_the_calling_process(tmp_path):
    """With one worker no pool is started: the task sees the caller's process (and its module state)."""
    res = run_sweep(_pid_task, [dict(x=1), dict(x=2)], tmp_path, n_workers=1)
    assert res == [{"pid": os.getpid(), "x": 1}, {"pid": os.getpid(), "x": 2}]


def _pid_task(x):
    return {"pid": os.getpid(), "x": x}


def test_sweep_progress_counts_finished_and_resumed_points(tmp_path, capsys):
    run_sweep(_pid_task, [dict(x=1)], tmp_path, n_workers=1)  # one point done before
    capsys.readouterr()
    run_sweep(_pid_task, [dict(x=1), dict(x=2), dict(x=3)], tmp_path, n_workers=1)
    err = capsys.readouterr().err
    assert "_pid_task" in err and "1/3" in err and "3/3" in err, err
    run_sweep(_pid_task, [dict(x=4)], tmp_path, n_workers=1, progress=False)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(executor="pool"), TypeError, "executor must be a concurrent.futures.Executor"),
        (dict(executor=concurrent.futures.ThreadPoolExecutor(1), n_workers=2), ValueError, "not both"),
    ],
)
def test_sweep_executor_errors(tmp_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        run_sweep(theory_point, _points(), tmp_path, **kwargs)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    "call, match",
    [
        (
            lambda d: run_sweep(theory_point, _points() + [dict(_points()[0], t_mesure=5.0)], d, n_workers=1),
            r"theory_point\(.*\) does not accept the point .*unexpected keyword argument 't_mesure'",
        ),
        (lambda d: run_sweep(theory_point, [dict(g=2.0, I1=0.0)], d), "missing a required argument: 'f'"),
        (
            lambda d: lyapunov_vs_amplitude(
                [0.0],
                N=1000,
                out_dir=d,
                n_workers=1,
                theory_options=_FAST,
                n_networks=1,
                network_options=dict(durration=5.0),
            ),
            r"network_options has keys \['durration'\] that network_point does not take",
        ),
        (
            lambda d: lyapunov_vs_amplitude([0.0], N=1000, out_dir=d, theory_options=dict(_FAST, N=10)),
            r"theory_options has keys \['N'\]",
        ),
        (
            lambda d: critical_amplitude_sweep("N", [1000], out_dir=d, theory_options=dict(t_mesure=5.0)),
            r"theory_options has keys \['t_mesure'\] that critical_amplitude / theory_point does not take",
        ),
        (
            lambda d: learning_vs_amplitude([1.0], n_networks=1, out_dir=d, N=100, t_train=5.0),
            r"learning_options has keys \['t_train'\] that learning_point does not take",
        ),
        (lambda d: lyapunov_vs_amplitude([0.0], out_dir=d, theory_options=[1]), "theory_options must be a dict"),
    ],
)
def test_misspelt_sweep_options_fail_before_any_point_runs(tmp_path, call, match):
    with pytest.raises(TypeError, match=match):
        call(tmp_path)
    assert not list(tmp_path.glob("*.json"))  # no point ran


@pytest.mark.slow  # starts a local dask cluster: about 30 s on a quiet machine
def test_sweep_on_a_dask_cluster_equals_the_local_pool_and_resumes(tmp_path, capsys):
    """The same sweep through a Dask cluster (in-process LocalCluster, two threads) gives the results of the
    default process pool, writes the same point files, and a second call reads them back; the command line
    runs on the cluster with --scheduler."""
    distributed = pytest.importorskip("dask.distributed")
    kwargs = dict(
        N=200,
        kinds=["common", "independent"],
        n_networks=1,
        theory_options=_FAST,
        network_options=dict(duration=5.0, t_transient=5.0),
    )
    local = lyapunov_vs_amplitude([0.0, 2.0], out_dir=tmp_path / "local", **kwargs)
    with (
        distributed.LocalCluster(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None) as cluster,
        distributed.Client(cluster) as client,
    ):
        executor = client.get_executor()
        remote = lyapunov_vs_amplitude([0.0, 2.0], out_dir=tmp_path / "dask", executor=executor, **kwargs)
        files = sorted((tmp_path / "dask").glob("*.json"))
        stamps = {f: f.stat().st_mtime_ns for f in files}
        again = lyapunov_vs_amplitude([0.0, 2.0], out_dir=tmp_path / "dask", executor=executor, **kwargs)
        cli = ["lyapunov", "--I1", "0,2", "--N", "1000", "--t-transient", "2", "--t-measure", "5", "--dt", "0.2"]
        assert main([*cli, "--out", str(tmp_path / "cli"), "--scheduler", cluster.scheduler_address]) == 0
        assert len(list((tmp_path / "cli").glob("theory_point-*.json"))) == 4
        with pytest.raises(SystemExit):
            main([*cli, "--out", str(tmp_path / "cli"), "--scheduler", cluster.scheduler_address, "--workers", "2"])
    for res in (remote, again):
        for part in ("theory", "network"):
            for kind in ("common", "independent"):
                np.testing.assert_array_equal(res[part][kind].magnitude, local[part][kind].magnitude)
    assert [f.name for f in files] == sorted(f.name for f in (tmp_path / "local").glob("*.json"))
    assert len(files) == 8  # 2 kinds x 2 amplitudes x (theory + 1 network)
    assert {f: f.stat().st_mtime_ns for f in files} == stamps  # read back, not recomputed
    captured = capsys.readouterr()
    assert "common theory" in captured.out and "exclude each other" in captured.err


@pytest.fixture
def svg_backend():
    """pyplot on the 'svg' backend for one test (then the previous one again), so that the test can check that
    the code under test neither switches the backend nor leaves pyplot figures behind."""
    import matplotlib.pyplot as plt

    previous = plt.get_backend()
    plt.close("all")
    plt.switch_backend("svg")
    yield
    plt.close("all")
    plt.switch_backend(previous)


def test_plots_return_figures_and_leave_pyplot_alone(tmp_path, svg_backend):
    """The plot functions build matplotlib Figures without pyplot: no pyplot figure, the backend unchanged."""
    import matplotlib.pyplot as plt

    lyap = {
        "I1": np.array([0.0, 1.0]),
        "theory": {"common": pq.Quantity([0.1, -0.05])},
        "network": {"common": pq.Quantity([[0.1, 0.08], [-0.04, -0.06]])},
        "parameters": dict(f=0.2, g=2.0, N=100),
    }
    crit = {
        "values": np.array([1e3, 4e3]),
        "I1_crit": {"common": np.array([5.0, 10.0])},
        "quasi_static": {"common": np.array([40.0, 80.0])},
        "parameters": {"vary": "N", "g": 2.0, "f": 0.2},
    }
    learn = {
        "I1": np.array([0.0, 5.0]),
        "test_error": {"independent": np.array([[1.0, 2.0], [0.01, 0.02]])},
        "teacher_lambda1": {"independent": pq.Quantity([[0.1, 0.05], [-0.1, -0.2]])},
        "parameters": {},
    }
    figures = [
        plot_lyapunov_vs_amplitude(lyap, xscale="symlog"),
        plot_critical_amplitude(crit),
        plot_learning(learn, I1_crit={"independent": 3.0}),
    ]
    for i, fig in enumerate(figures):
        assert isinstance(fig, Figure)
        fig.savefig(tmp_path / f"{i}.png")
        assert (tmp_path / f"{i}.png").stat().st_size > 1000
    assert plt.get_fignums() == []
    assert plt.get_backend() == "svg"


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda d: lyapunov_vs_amplitude([-1.0], out_dir=d), "I1_values must be a 1D array"),
        (lambda d: lyapunov_vs_amplitude([1.0], f=0.0, out_dir=d), "f must be > 0"),
        (lambda d: lyapunov_vs_amplitude([1.0], kinds=["shared"], out_dir=d), "must be one of 'common', 'independent'"),
        (lambda d: critical_amplitude_sweep("tau", [1.0], out_dir=d), "vary must be one of"),
        (lambda d: learning_vs_amplitude([-2.0], out_dir=d), "I1_values must be a 1D array"),
        (lambda d: learning_point(1.0, "both"), "must be one of 'common', 'independent'"),
        (lambda d: critical_amplitude("both"), "must be one of 'common', 'independent'"),
        (lambda d: quasi_static_critical_amplitude("both"), "must be one of 'common', 'independent'"),
    ],
)
def test_experiment_errors(tmp_path, call, match):
    with pytest.raises(ValueError, match=match):
        call(tmp_path)


def test_lyapunov_vs_amplitude_theory_and_network(tmp_path):
    res = lyapunov_vs_amplitude(
        [0.0, 2.0],
        N=200,
        out_dir=tmp_path,
        n_workers=2,
        n_networks=2,
        theory_options=_FAST,
        network_options=dict(duration=5.0, t_transient=5.0),
    )
    for kind in ("common", "independent"):
        assert res["theory"][kind].shape == (2,)
        assert res["network"][kind].shape == (2, 2)
        assert np.all(np.isfinite(res["network"][kind].magnitude))
    # at I1 = 0 both kinds are the same stationary theory
    assert float(res["theory"]["common"][0]) == pytest.approx(float(res["theory"]["independent"][0]), abs=1e-12)
    fig = plot_lyapunov_vs_amplitude(res)
    assert isinstance(fig, Figure)
    path = tmp_path / "lyap.png"
    fig.savefig(path)
    assert path.stat().st_size > 1000


def test_network_point_reports_balanced_rate():
    """The time-averaged rate of a balanced network is I0/J0 - m/(sqrt(N) J0) with m = O(1): within 15% of
    I0/J0 at N = 400."""
    out = network_point(2.0, 0.0, 0.2, "common", 400, 0, duration=20.0, t_transient=10.0)
    assert out["rate"] == pytest.approx(1.0, rel=0.15)


def test_quasi_static_common_formula():
    """I1_crit(common, f -> 0) = sqrt(N) I0 / cos(pi p), p = lambda_c/(1 + lambda_c): at that amplitude the
    cycle average of lambda (lambda_c while sqrt(N) I0 + I1 sin(psi) > 0, -1 while silent) vanishes, and it
    scales exactly like sqrt(N)."""
    N = 3000
    I1c = quasi_static_critical_amplitude("common", N=N)
    lam_c = float(stationary_dmft(2.0).lyapunov_exponent())
    psi = 2 * np.pi * (np.arange(200000) + 0.5) / 200000
    on = np.sqrt(N) + I1c * np.sin(psi) > 0
    assert np.mean(np.where(on, lam_c, -1.0)) == pytest.approx(0.0, abs=1e-4)
    assert quasi_static_critical_amplitude("common", N=4 * N) == pytest.approx(2 * I1c, rel=1e-12)


def test_quenched_offsets_reduce_lyapunov_exponent():
    """Static offsets A sin(theta) (slow independent input) lower lambda_1 monotonically from the
    stationary value."""
    lams = [
        float(stationary_dmft(2.0, quenched_amplitude=A, n_phases=4).lyapunov_exponent(step=0.05))
        for A in (0.0, 2.0, 4.0)
    ]
    assert lams[0] == pytest.approx(float(stationary_dmft(2.0).lyapunov_exponent(step=0.05)), abs=1e-12)
    assert lams[0] > lams[1] > lams[2]


def test_cli_lyapunov_and_critical(tmp_path, capsys):
    fig = tmp_path / "fig.png"
    assert (
        main(
            [
                "lyapunov",
                "--I1",
                "0,2",
                "--N",
                "1000",
                "--out",
                str(tmp_path),
                "--workers",
                "2",
                "--t-transient",
                "2",
                "--t-measure",
                "5",
                "--dt",
                "0.2",
                "--figure",
                str(fig),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "common theory" in out and "independent theory" in out
    assert fig.stat().st_size > 1000
    fig2 = tmp_path / "crit.png"
    assert (
        main(
            [
                "critical",
                "--vary",
                "N",
                "--values",
                "1000",
                "--g",
                "1.2",
                "--out",
                str(tmp_path),
                "--workers",
                "1",
                "--t-measure",
                "5",
                "--figure",
                str(fig2),
            ]
        )
        == 0
    )
    assert "I1_crit [nan]" in capsys.readouterr().out  # g < sqrt(2): no chaos to suppress
    assert fig2.stat().st_size > 1000


@pytest.mark.slow
@pytest.mark.parametrize("kind, I1", [("common", 0.0), ("common", 10.0), ("independent", 2.0)])
def test_theory_matches_simulation_at_N5000(kind, I1):
    """lambda_1 of one N = 5000 network (g = 2, f = 0.2/tau, 150 tau) against the DMFT with the same N.
    Tolerance 0.02/tau (about 20% of lambda_1 at I1 = 0): finite-size effects (the N = 2000 networks are
    ~25% below the theory) and the statistical error of a 150 tau average (~0.005/tau)."""
    th = theory_point(2.0, I1, 0.2, kind, 5000)["lambda1"]
    nw = network_point(2.0, I1, 0.2, kind, 5000, 1, duration=150.0, t_transient=20.0)["lambda1"]
    assert nw == pytest.approx(th, abs=0.02)


@pytest.mark.slow
@pytest.mark.parametrize("kind, ratio, rel", [("common", 2.0, 0.25), ("independent", 1.0, 0.1)])
def test_critical_amplitude_scaling_with_N(kind, ratio, rel):
    """Quadrupling N doubles I1_crit for common input (the balance cancels it, sqrt(N)) and leaves it
    unchanged for independent input. f = 0.2/tau, DMFT; tolerances allow the O(1) offset of the common
    input's cancellation at these sizes and the 1% root tolerance."""
    opts = dict(f=0.2, rtol=1e-2, n_phases=8, t_transient=30.0, t_measure=30.0)
    small = critical_amplitude(kind, N=1000, I1_start=2.0, **opts)
    large = critical_amplitude(kind, N=4000, I1_start=2.0, **opts)
    assert large / small == pytest.approx(ratio, rel=rel)


def test_learning_sweep_and_cli(tmp_path, capsys):
    """The learning sweep (online full-FORCE, tested in test_balanced_learning.py) through the CLI: a driven
    teacher (independent input, I1 = 10, lambda_1 < 0) gives a converged student with a small test error
    (< 0.1: the test window is 50-100 tau after training, over which the free-running oscillator's phase
    drifts; 0.019 and 0.001 measured for these two pairs)."""
    fig = tmp_path / "learn.png"
    assert (
        main(
            [
                "learning",
                "--I1",
                "10",
                "--N",
                "150",
                "--kinds",
                "independent",
                "--networks",
                "2",
                "--t-train",
                "60",
                "--out",
                str(tmp_path),
                "--workers",
                "1",
                "--figure",
                str(fig),
            ]
        )
        == 0
    )
    assert "independent median test error" in capsys.readouterr().out
    assert fig.stat().st_size > 1000
    res = learning_vs_amplitude(
        [10.0],
        kinds=["independent"],
        n_networks=2,
        out_dir=tmp_path,
        n_workers=1,
        N=150,
        g=2.0,
        f=0.2,
        J0=1.0,
        I0=1.0,
        t_train_max=60.0,
    )  # loaded from disk
    assert res["converged"]["independent"].all()
    assert np.all(res["teacher_lambda1"]["independent"].magnitude < 0)
    assert np.all(res["test_error"]["independent"] < 0.1)


def test_theory_point_passes_the_sparse_in_degree():
    """theory_point(K=...) is the sparse periodic DMFT (same number), which differs from the dense one: the
    in-degree sampling variance raises lambda_1 (0.139 against 0.096 stationary, g = 2)."""
    opts = dict(dt=0.2, t_transient=10.0, t_measure=5.0)
    sparse = theory_point(2.0, 0.0, 0.2, "common", 1000, K=50, **opts)["lambda1"]
    direct = float(meanfield.periodic_dmft(2.0, 0.0, 0.2, N=1000, K=50, **opts).lyapunov_exponent)
    assert sparse == direct
    assert sparse > theory_point(2.0, 0.0, 0.2, "common", 50, **opts)["lambda1"] + 0.02
