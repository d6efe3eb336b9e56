"""Thread counts: set for a stage or training, restored for the caller."""

import torch

from deltaspace import cli
from deltaspace.cli import stage
from deltaspace.threads import torch_threads, uses_threads


def test_torch_threads_restores_the_count_even_after_an_error():
    torch.set_num_threads(1)
    with torch_threads(2):
        assert torch.get_num_threads() == 2
    assert torch.get_num_threads() == 1
    try:
        with torch_threads(2):
            raise ValueError
    except ValueError:
        pass
    assert torch.get_num_threads() == 1
    with torch_threads(None):
        assert torch.get_num_threads() == 1


def test_stages_and_trainings_run_with_their_threads_argument(monkeypatch):
    monkeypatch.setattr(cli, "STAGES", dict(cli.STAGES))  # the probe stage stays out of the real table
    seen = []

    @uses_threads
    def train(steps, *, threads=2):
        seen.append(torch.get_num_threads())

    @stage("probe-threads-test")
    def probe(*, threads: int = 2):
        seen.append(torch.get_num_threads())

    torch.set_num_threads(1)
    train(3)
    train(3, threads=1)
    probe()
    probe(threads=1)
    assert seen == [2, 1, 2, 1] and torch.get_num_threads() == 1
