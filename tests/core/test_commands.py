"""do -> undo -> redo of every command restores the exact document state (ids, order, values)."""

import random

import numpy as np
import pytest

from karyostudio.core.commands import (AddInstances, EditVertices, Merge, RemoveInstances, ReplaceInstances,
                                       SetLabel, SetReviewed, Split)
from karyostudio.core.document import Document
from karyostudio.core.history import History
from karyostudio.core.instance import Instance


def square(x, y, s=10.0):
    return np.array([[x, y], [x + s, y], [x + s, y + s], [x, y + s]], dtype=float)


def make_doc(n=5):
    return Document.from_instances(
        [Instance(id=i, polygon=square(20 * i, 0), label=str(i), score=0.5 + 0.05 * i, source="test",
                  attributes={"cluster": i == 3}) for i in range(1, n + 1)])


COMMANDS = {
    "add": lambda d: AddInstances([Instance(id=d.next_id(), polygon=square(0, 50), label="X")]),
    "remove": lambda d: RemoveInstances([2, 4]),
    "edit": lambda d: EditVertices(3, square(41, 1, 12)),
    "label": lambda d: SetLabel([1, 5], "Y"),
    "reviewed": lambda d: SetReviewed([1, 2, 3]),
    "split": lambda d: Split(3, [square(40, 0, 5), square(45, 5, 5)]),
    "merge": lambda d: Merge([1, 2], square(20, 0, 30)),
    "replace": lambda d: ReplaceInstances([Instance(id=1, polygon=square(5, 5), label="21", score=0.9)]),
}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_do_undo_redo_restores_exact_state(name):
    doc = make_doc()
    history = History(doc)
    before = doc.snapshot()
    history.push(COMMANDS[name](doc))
    after = doc.snapshot()
    assert after != before
    assert history.undo()
    assert doc.snapshot() == before
    assert [i.id for i in doc.instances] == [i.id for i in before]
    assert history.redo()
    assert doc.snapshot() == after


def test_commands_change_what_they_say():
    doc = make_doc()
    h = History(doc)
    h.push(SetLabel([1], "X"))
    assert doc.get(1).label == "X" and doc.get(1).reviewed
    h.push(Split(3, [square(40, 0, 5), square(45, 5, 5)]))
    assert len(doc) == 6 and "cluster" not in doc.get(3).attributes
    assert doc.get(6).label == "3"
    h.push(Merge([1, 2], square(20, 0, 30)))
    assert 2 not in doc and doc.get(1).area == pytest.approx(900.0)
    h.push(EditVertices(4, square(0, 0, 2)))
    assert doc.get(4).area == pytest.approx(4.0)
    # Editing keeps list order.
    assert [i.id for i in doc.instances][:3] == [1, 3, 4]


def test_random_sequences_undo_to_start_and_redo_to_end():
    rng = random.Random(7)
    for trial in range(20):
        doc = make_doc(6)
        h = History(doc)
        start = doc.snapshot()
        states = [start]
        for _ in range(12):
            ids = [i.id for i in doc.instances]
            choice = rng.choice(["add", "remove", "label", "edit", "split", "merge", "review"])
            if choice == "add" or len(ids) < 3:
                cmd = AddInstances([Instance(id=doc.next_id(), polygon=square(rng.uniform(0, 100), 0))])
            elif choice == "remove":
                cmd = RemoveInstances(rng.sample(ids, 1))
            elif choice == "label":
                cmd = SetLabel(rng.sample(ids, 2), rng.choice(["1", "X", None]))
            elif choice == "edit":
                cmd = EditVertices(rng.choice(ids), square(rng.uniform(0, 50), rng.uniform(0, 50)))
            elif choice == "split":
                cmd = Split(rng.choice(ids), [square(0, 0), square(10, 10), square(20, 20)])
            elif choice == "merge":
                cmd = Merge(rng.sample(ids, 2), square(0, 0, 40))
            else:
                cmd = SetReviewed(rng.sample(ids, 1), rng.random() < 0.5)
            h.push(cmd)
            states.append(doc.snapshot())
        while h.undo():
            pass
        assert doc.snapshot() == start
        while h.redo():
            pass
        assert doc.snapshot() == states[-1]


def test_new_command_discards_redo_branch_and_clean_state():
    doc = make_doc()
    h = History(doc)
    h.mark_clean()
    assert h.is_clean
    h.push(SetLabel([1], "2"))
    assert not h.is_clean and h.undo_text.startswith("label")
    h.undo()
    assert h.is_clean and h.can_redo
    h.push(RemoveInstances([1]))
    assert not h.can_redo and not h.is_clean


def test_invalid_commands_change_nothing():
    doc = make_doc()
    h = History(doc)
    before, rev = doc.snapshot(), doc.revision
    with pytest.raises(KeyError):
        h.push(RemoveInstances([99]))
    with pytest.raises(ValueError):
        h.push(AddInstances([Instance(id=1, polygon=square(0, 0))]))
    with pytest.raises(ValueError):
        h.push(SetLabel([1], "23"))
    assert doc.snapshot() == before and doc.revision == rev and not h.can_undo


def test_events_name_changed_ids():
    doc = make_doc()
    events = []
    unsubscribe = doc.subscribe(events.append)
    History(doc).push(SetLabel([2], "X"))
    assert events[-1].removed == (2,) and events[-1].added == (2,)
    unsubscribe()
    History(doc).push(RemoveInstances([1]))
    assert len(events) == 1
