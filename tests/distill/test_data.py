"""Batching: seeded epoch orders, length grouping within windows, dynamic padding, input checks."""
import numpy as np
import pytest

from distill.data import MEGA_BATCHES, batch_order, check_examples, collate


def test_batch_order_is_seeded_per_epoch_and_covers_every_example():
    lengths = list(np.random.default_rng(0).integers(5, 200, size=1000))
    first = batch_order(lengths, 16, seed=3, epoch=1, group_by_length=True)
    assert sorted(np.concatenate(first).tolist()) == list(range(1000))
    assert all(np.array_equal(a, b) for a, b in zip(first, batch_order(lengths, 16, 3, 1, True)))
    assert not all(np.array_equal(a, b) for a, b in zip(first, batch_order(lengths, 16, 3, 2, True)))
    assert not all(np.array_equal(a, b) for a, b in zip(first, batch_order(lengths, 16, 4, 1, True)))


def test_grouping_shrinks_padding():
    lengths = list(np.random.default_rng(1).integers(5, 300, size=16 * MEGA_BATCHES * 2))

    def padded(batches):
        return sum(len(b) * max(lengths[i] for i in b) for b in batches)

    grouped = padded(batch_order(lengths, 16, 0, 1, group_by_length=True))
    plain = padded(batch_order(lengths, 16, 0, 1, group_by_length=False))
    assert grouped < 0.8 * plain
    # Within a grouped batch the lengths are neighbours in a sorted window: small spread.
    spread = [max(lengths[i] for i in b) - min(lengths[i] for i in b)
              for b in batch_order(lengths, 16, 0, 1, True)]
    assert np.median(spread) < 20


def test_collate_pads_to_longest_or_fixed_width():
    batch = collate([[5, 6, 7], [8]], pad_id=0)
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert collate([[5, 6, 7], [8]], pad_id=1, pad_to=5)["input_ids"].tolist() == [[5, 6, 7, 1, 1], [8, 1, 1, 1, 1]]


def test_check_examples_errors_and_warnings():
    labels = ["sport", "tech"]
    msg = r"train example 1 has label 'sprot', not in the label set \['sport', 'tech'\]"
    with pytest.raises(ValueError, match=msg):
        check_examples([{"text": "a", "label": "sport"}, {"text": "b", "label": "sprot"}], labels, "train")
    with pytest.raises(ValueError, match="lacks 'text' or 'label'"):
        check_examples([{"text": "a"}], labels, "train")
    with pytest.raises(ValueError, match="train set is empty"):
        check_examples([], labels, "train")
    with pytest.warns(UserWarning, match=r"no examples of label\(s\) \['tech'\]"):
        assert check_examples([{"text": "a", "label": "sport"}], labels, "train") == [0]
