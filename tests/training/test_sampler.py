import random

from textclf.training.sampler import MixedLengthSampler, mixed_length_batches


def _data(n=2000, seed=0):
    rng = random.Random(seed)
    labels = [1 if rng.random() < 0.15 else 0 for _ in range(n)]
    # the minority class is long, as spam is: the case that breaks plain length grouping
    lengths = [rng.randint(15, 60) if y else rng.randint(3, 60) for y in labels]
    return lengths, labels


def _padded(batches, lengths):
    return sum(len(b) * max(lengths[i] for i in b) for b in batches)


def test_every_index_once_and_batches_stay_label_mixed():
    lengths, labels = _data()
    batches = mixed_length_batches(lengths, labels, 16, seed=1)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(len(lengths)))
    mixed = sum(len({labels[i] for i in b}) == 2 for b in batches if len(b) == 16)
    full = sum(len(b) == 16 for b in batches)
    assert mixed / full > 0.9        # nearly every batch holds both classes


def test_less_padding_than_random_batches():
    lengths, labels = _data()
    grouped = _padded(mixed_length_batches(lengths, labels, 16, seed=1), lengths)
    order = list(range(len(lengths)))
    random.Random(1).shuffle(order)
    rand = _padded([order[k:k + 16] for k in range(0, len(order), 16)], lengths)
    assert grouped < 0.85 * rand


def test_sampler_reshuffles_each_epoch():
    lengths, labels = _data(200)
    s = MixedLengthSampler(lengths, labels, 8, seed=0)
    a, b = list(s), list(s)
    assert sorted(a) == sorted(b) == list(range(200)) and a != b
