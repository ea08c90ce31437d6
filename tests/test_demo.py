"""The quick-start demo runs end to end on a small network and saves its plot."""

import pytest

from brian2_sparseprop.experiments.demo import main


def test_demo_prints_summary_and_saves_plot(tmp_path, capsys):
    out = tmp_path / "demo.png"
    main(["-n", "2000", "--duration", "0.5", "--output", str(out)])
    text = capsys.readouterr().out
    assert "stationary rate" in text and "Hz" in text
    rate = float(text.split("stationary rate ")[1].split(" Hz")[0])
    assert 2.5 < rate < 4.5  # S1's stationary rate is about 3.4 Hz; 2000 neurons for 0.25 s
    assert out.stat().st_size > 10_000  # a real figure, not an empty file


def test_demo_refuses_nonpositive_duration(capsys):
    with pytest.raises(SystemExit):
        main(["--duration", "0"])
    assert "--duration must be > 0, found: 0.0" in capsys.readouterr().err
