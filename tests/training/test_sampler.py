import random
from collections import Counter

from scipy.stats import binom

from textclf.training.sampler import MixedLengthSampler, class_caps, mixed_length_batches


def _data(n=2000, seed=0):
    rng = random.Random(seed)
    labels = [1 if rng.random() < 0.15 else 0 for _ in range(n)]
    # the minority class is long, as spam is: the case that breaks plain length grouping
    lengths = [rng.randint(35, 60) if y else rng.randint(3, 60) for y in labels]
    return lengths, labels


def _padded(batches, lengths):
    return sum(len(b) * max(lengths[i] for i in b) for b in batches)


def test_caps_are_the_binomial_99th_percentile():
    labels = [0] * 87 + [1] * 13
    caps = class_caps(labels, 8)
    assert caps == {0: int(binom.ppf(0.99, 8, 0.87)), 1: int(binom.ppf(0.99, 8, 0.13))}
    assert caps[1] < 8 and caps[0] == 8       # a rare class is capped, the majority is not
    half = int(binom.ppf(0.99, 8, 0.5))
    assert class_caps([0, 1] * 50, 8) == {0: half, 1: half}


def test_every_index_once_and_no_batch_over_its_class_cap():
    lengths, labels = _data()
    caps = class_caps(labels, 16)
    # the data is the hard case: sorting by length alone piles the minority into a few batches
    by_length = sorted(range(len(lengths)), key=lambda i: lengths[i])
    sorted_batches = [by_length[k:k + 16] for k in range(0, len(by_length), 16)]
    assert max(sum(labels[i] for i in b) for b in sorted_batches) > caps[1]
    batches = mixed_length_batches(lengths, labels, 16, seed=1)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for b in batches:
        for c, k in Counter(labels[i] for i in b).items():
            assert k <= caps[c]


def test_only_the_last_batch_is_partial():
    lengths, labels = _data(1003)
    batches = mixed_length_batches(lengths, labels, 16, seed=2)
    assert [len(b) for b in batches[:-1]] == [16] * (len(batches) - 1)
    assert len(batches[-1]) == 1003 % 16


def test_less_padding_than_random_batches():
    lengths, labels = _data()
    grouped = _padded(mixed_length_batches(lengths, labels, 16, seed=1), lengths)
    order = list(range(len(lengths)))
    random.Random(1).shuffle(order)
    rand = _padded([order[k:k + 16] for k in range(0, len(order), 16)], lengths)
    assert grouped < 0.85 * rand
    assert grouped < 1.25 * sum(lengths)     # close to no padding at all


def test_sampler_reshuffles_each_epoch():
    lengths, labels = _data(200)
    s = MixedLengthSampler(lengths, labels, 8, seed=0)
    a, b = list(s), list(s)
    assert sorted(a) == sorted(b) == list(range(200)) and a != b
