"""How ``moodchat serve --ray`` sizes its deployments (``moodchat.scale.serve``), no cluster."""

from __future__ import annotations

from moodchat.scale.serve import replica_options
from moodchat.server import ServerSettings


def test_fixed_replicas_reserve_their_threads_and_take_what_their_gates_allow():
    s = ServerSettings(replicas=3, threads=2, parallel=2, max_queue=8,
                       max_sentiment_concurrency=4, max_sentiment_queue=32)  # fmt: skip
    options = replica_options(s)
    assert options["num_replicas"] == 3 and "autoscaling_config" not in options
    assert options["ray_actor_options"] == {"num_cpus": 2}
    assert options["max_ongoing_requests"] == 2 + 8 + 4 + 32  # beyond: the replica's 429s


def test_max_replicas_above_replicas_autoscales_between_them():
    options = replica_options(ServerSettings(replicas=1, max_replicas=4, threads=1, parallel=2))
    assert "num_replicas" not in options
    assert options["autoscaling_config"] == {
        "min_replicas": 1, "max_replicas": 4, "target_ongoing_requests": 2,
    }  # fmt: skip
