import torch
import torch.nn.functional as F

from textclf.training.losses import class_weights, classification_loss, focal_loss


def test_auto_weights_only_when_imbalanced():
    assert class_weights([0] * 10 + [1] * 8, 2, "auto") is None
    w = class_weights([0] * 30 + [1] * 10, 2, "auto")
    assert w == [40 / (2 * 30), 40 / (2 * 10)]
    assert class_weights([0] * 30 + [1] * 10, 2, "none") is None
    assert class_weights([0] * 10 + [1] * 10, 2, "balanced") == [1.0, 1.0]


def test_focal_with_gamma_zero_is_cross_entropy():
    torch.manual_seed(0)
    logits, y = torch.randn(16, 3), torch.randint(0, 3, (16,))
    assert torch.allclose(focal_loss(logits, y, gamma=0.0), F.cross_entropy(logits, y), atol=1e-6)
    # focusing down-weights easy examples, so the loss shrinks
    assert focal_loss(logits, y, gamma=2.0) < F.cross_entropy(logits, y)


def test_weighted_ce_matches_torch():
    logits, y = torch.randn(8, 2), torch.tensor([0, 1, 1, 0, 0, 0, 0, 1])
    w = torch.tensor([0.5, 2.0])
    assert torch.allclose(classification_loss(logits, y, weight=w), F.cross_entropy(logits, y, weight=w))


def test_label_smoothing_mixes_in_the_uniform_target():
    logits = torch.tensor([[2.0, -1.0, 0.5], [0.0, 1.0, -2.0]])
    targets = torch.tensor([0, 1])
    eps = 0.1
    logp = torch.log_softmax(logits, -1)
    soft = torch.full_like(logp, eps / 3)
    soft[torch.arange(2), targets] += 1 - eps
    expected = -(soft * logp).sum(-1).mean()
    got = classification_loss(logits, targets, label_smoothing=eps)
    assert torch.allclose(got, expected, atol=1e-6)
    assert got > classification_loss(logits, targets)
