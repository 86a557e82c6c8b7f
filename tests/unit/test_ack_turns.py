"""The ingest worker's acknowledgement turns: writers store chunks in parallel, but PUBACKs go out
in the order the chunks were taken from the stream (MQTT 3.1.1 and 5, §4.6), and nobody waits
forever for a chunk that was given up."""

from __future__ import annotations

import random
import threading
import time

import pytest

from coldpledge.iot.worker import AckTurns

pytestmark = pytest.mark.timeout(30)


def writers(
    turns: AckTurns, tickets: list[int], stop: threading.Event
) -> tuple[dict[int, threading.Event], list[int], list[threading.Thread]]:
    """One thread per ticket: it waits until its chunk is committed (its event is set), then for
    its turn, and acknowledges; what it acknowledged is appended to the list, in order."""
    committed = {ticket: threading.Event() for ticket in tickets}
    acknowledged: list[int] = []

    def write(ticket: int) -> None:
        committed[ticket].wait()
        if turns.wait_turn(ticket, stop):
            acknowledged.append(ticket)
        turns.done(ticket)

    threads = [threading.Thread(target=write, args=(ticket,), daemon=True) for ticket in tickets]
    for thread in threads:
        thread.start()
    return committed, acknowledged, threads


def join(threads: list[threading.Thread]) -> None:
    for thread in threads:
        thread.join(timeout=5)
        assert not thread.is_alive(), "a writer is still waiting for its turn"


def test_tickets_are_drawn_in_order() -> None:
    turns = AckTurns()
    assert [turns.draw() for _ in range(4)] == [0, 1, 2, 3]


def test_acknowledgements_go_out_in_ticket_order_even_when_a_later_chunk_commits_first() -> None:
    turns = AckTurns()
    tickets = [turns.draw() for _ in range(4)]
    committed, acknowledged, threads = writers(turns, tickets, threading.Event())
    for ticket in reversed(tickets[1:]):  # the last chunk taken commits first
        committed[ticket].set()
        time.sleep(0.05)
    assert acknowledged == [], "a chunk was acknowledged before the first one"
    committed[tickets[0]].set()
    join(threads)
    assert acknowledged == [0, 1, 2, 3]


def test_acknowledgements_stay_in_ticket_order_whatever_order_the_chunks_commit_in() -> None:
    order = random.Random(20261129)
    for _ in range(20):
        turns = AckTurns()
        tickets = [turns.draw() for _ in range(8)]
        committed, acknowledged, threads = writers(turns, tickets, threading.Event())
        for ticket in order.sample(tickets, len(tickets)):
            committed[ticket].set()
        join(threads)
        assert acknowledged == tickets


def test_a_chunk_given_up_out_of_turn_does_not_hold_back_the_later_ones() -> None:
    turns = AckTurns()
    tickets = [turns.draw() for _ in range(3)]
    turns.done(tickets[1])  # its writer failed before the first chunk committed
    committed, acknowledged, threads = writers(turns, [tickets[0], tickets[2]], threading.Event())
    committed[tickets[2]].set()
    time.sleep(0.05)
    assert acknowledged == []  # the first chunk is still being stored
    committed[tickets[0]].set()
    join(threads)
    assert acknowledged == [0, 2]


def test_a_writer_waiting_for_its_turn_gives_up_when_the_worker_stops() -> None:
    turns = AckTurns()
    turns.draw()  # the first chunk, whose writer is still retrying against a database that is down
    second = turns.draw()
    stop = threading.Event()
    committed, acknowledged, threads = writers(turns, [second], stop)
    committed[second].set()
    time.sleep(0.05)
    stop.set()
    join(threads)
    assert acknowledged == []


def test_a_writer_whose_turn_has_come_acknowledges_even_while_stopping() -> None:
    # One writer behaves as the worker always did: a chunk committed as the stop came is acknowledged.
    turns = AckTurns()
    stop = threading.Event()
    stop.set()
    ticket = turns.draw()
    assert turns.wait_turn(ticket, stop)


def test_a_ticket_waiting_with_a_timeout_goes_on_without_its_turn_once_the_time_is_up() -> None:
    turns = AckTurns()
    turns.draw()  # the first chunk, held up
    second = turns.draw()
    began = time.monotonic()
    assert not turns.wait_turn(second, threading.Event(), timeout=0.2)
    assert 0.2 <= time.monotonic() - began < 2


def test_a_ticket_whose_turn_is_past_waits_for_nothing_and_done_twice_holds_nothing_back() -> None:
    turns = AckTurns()
    tickets = [turns.draw() for _ in range(3)]
    turns.done(tickets[0])
    turns.done(tickets[0])  # a chunk's last step, then its writer's ``finally``
    assert turns.wait_turn(tickets[0], threading.Event(), timeout=0)
    assert turns.wait_turn(tickets[1], threading.Event(), timeout=0)
    turns.done(tickets[1])
    turns.done(tickets[2])
    turns.done(tickets[1])
    assert turns.wait_turn(tickets[2] + 1, threading.Event(), timeout=0)
