"""Building botocore's long-lived objects with the cyclic collector paused: the collector comes back, for the
long-running commands whose cycles it must still free, whatever the blocks' nesting, threads and failures."""

from __future__ import annotations

import gc
import threading

import pytest

from onboard.longlived import long_lived


@pytest.fixture(autouse=True)
def _collector_enabled():
    assert gc.isenabled()
    yield
    gc.enable()


def test_the_collector_is_paused_inside_and_back_after():
    with long_lived():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_what_was_made_inside_is_frozen_out_of_later_collections():
    before = gc.get_freeze_count()
    with long_lived():
        made = [[index] for index in range(1000)]  # lists: tracked by the collector
    assert gc.get_freeze_count() >= before + len(made)


def test_the_collector_comes_back_after_a_failure_inside():
    with pytest.raises(RuntimeError), long_lived():
        raise RuntimeError("the profile is missing")
    assert gc.isenabled()


def test_a_nested_block_leaves_the_collector_paused_until_the_outer_one_ends():
    with long_lived():
        with long_lived():
            pass
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_collector_paused_before_stays_paused():
    gc.disable()
    with long_lived():
        pass
    assert not gc.isenabled()


def test_blocks_that_end_in_another_order_in_two_threads_leave_the_collector_enabled():
    # The transfer makes its S3 and SSM clients in worker threads while the main thread makes STS's: the
    # first block to open is not the last to close, and the collector must come back all the same.
    first_open, first_may_end = threading.Event(), threading.Event()

    def first() -> None:
        with long_lived():
            first_open.set()
            first_may_end.wait(10)

    worker = threading.Thread(target=first)
    worker.start()
    first_open.wait(10)
    with long_lived():
        first_may_end.set()
        worker.join(10)
        assert not gc.isenabled(), "the first block's end must not re-enable it under the second"
    assert gc.isenabled()


def test_a_command_s_clients_are_made_with_it_and_leave_it_enabled(isolated_home):
    from onboard.awsclient import ClientSettings, clients

    before = gc.get_freeze_count()
    client = clients(ClientSettings(profile=None, region="eu-west-1"))("sts")
    assert client.meta.region_name == "eu-west-1"
    assert gc.isenabled() and gc.get_freeze_count() > before
