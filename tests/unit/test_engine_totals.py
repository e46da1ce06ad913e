"""The overview's engine totals from two readings of the running containers' counters (pure)."""

from core.engine.system import UsageReading, totals


def _r(cpu: int, system: int, memory: int = 0) -> UsageReading:
    return UsageReading(cpu_total=cpu, system_total=system, memory=memory)


def test_cpu_is_the_docker_cli_formula_summed_over_containers():
    before = {"a": _r(0, 1000), "b": _r(0, 1000)}
    after = {"a": _r(100, 2000), "b": _r(50, 2000)}  # 10 % and 5 % of the host's CPU time
    result = totals(before, after, running=2, cpus=4, memory_total=8)
    assert result.cpu_percent == 60.0  # (0.10 + 0.05) x 4 CPUs x 100


def test_a_container_new_since_the_last_reading_adds_memory_but_no_cpu():
    result = totals({}, {"new": _r(500, 1000, memory=300)}, running=1, cpus=2, memory_total=1000)
    assert result.cpu_percent == 0.0
    assert result.memory_usage == 300


def test_memory_is_summed_and_the_host_total_kept_as_the_scale():
    after = {"a": _r(0, 0, memory=100), "b": _r(0, 0, memory=250)}
    result = totals(after, after, running=2, cpus=1, memory_total=4096)
    assert (result.memory_usage, result.memory_total) == (350, 4096)


def test_cpu_never_exceeds_the_scale_of_100_percent_per_cpu():
    result = totals({"a": _r(0, 10)}, {"a": _r(100, 20)}, running=1, cpus=2, memory_total=1)
    assert result.cpu_percent == 200.0


def test_counted_says_how_many_of_the_running_ones_were_read():
    result = totals({}, {"a": _r(0, 0)}, running=140, cpus=1, memory_total=1)
    assert (result.counted, result.running) == (1, 140)


def test_counters_that_went_backwards_count_nothing():
    result = totals({"a": _r(500, 1000)}, {"a": _r(100, 2000)}, running=1, cpus=1, memory_total=1)
    assert result.cpu_percent == 0.0
