"""``st.train.metrics`` accumulated over uneven batches equals scikit-learn on the whole set."""

from __future__ import annotations

import numpy as np
import pytest

import strided as st
from strided.train import metrics as M

sk = pytest.importorskip("sklearn.metrics", reason="scikit-learn is the oracle for the metrics")

C = 5


def scores_and_labels(n=103, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, C - 1, n)                         # class 4 never occurs as a target
    scores = rng.standard_normal((n, C)) + 1.5 * np.eye(C)[labels]
    return scores.astype(np.float32), labels


def batches(n, sizes=(7, 1, 30, 13)):
    start, i = 0, 0
    while start < n:
        size = sizes[i % len(sizes)]
        yield slice(start, start + size)
        start, i = start + size, i + 1


def accumulated(metric, scores, labels):
    for part in batches(len(labels)):
        metric.update(scores[part], labels[part])
    return metric.compute()


def test_accuracy_top_k_and_confusion_matrix_equal_sklearn():
    scores, labels = scores_and_labels()
    assert accumulated(M.Accuracy(), scores, labels)["accuracy"] == pytest.approx(
        sk.accuracy_score(labels, scores.argmax(1)), abs=1e-15)
    for k in (2, 3):
        assert accumulated(M.TopKAccuracy(k), scores, labels)[f"top{k}_accuracy"] == pytest.approx(
            sk.top_k_accuracy_score(labels, scores, k=k, labels=range(C)), abs=1e-15)
    matrix = accumulated(M.ConfusionMatrix(), scores, labels)["confusion_matrix"]
    np.testing.assert_array_equal(matrix, sk.confusion_matrix(labels, scores.argmax(1), labels=range(C)))


@pytest.mark.parametrize("average", [None, "macro", "weighted", "micro"])
def test_precision_recall_f1_equal_sklearn(average):
    scores, labels = scores_and_labels()
    got = accumulated(M.PrecisionRecallF1(average), scores, labels)
    p, r, f, support = sk.precision_recall_fscore_support(labels, scores.argmax(1), average=average,
                                                         zero_division=0)
    np.testing.assert_allclose(got["precision"], p, atol=1e-12)
    np.testing.assert_allclose(got["recall"], r, atol=1e-12)
    np.testing.assert_allclose(got["f1"], f, atol=1e-12)
    if average is None:
        np.testing.assert_array_equal(got["support"], support)


def test_mean_loss_is_weighted_by_batch_size_not_an_average_of_averages():
    torch = pytest.importorskip("torch")
    scores, labels = scores_and_labels(n=50)
    per_example = torch.nn.functional.cross_entropy(torch.tensor(scores, dtype=torch.float64),
                                                    torch.tensor(labels), reduction="none").numpy()
    result = st.train.evaluate(st.nn.Identity(), (scores, labels), batch_size=16)     # batches 16, 16, 16, 2
    assert result["loss"] == pytest.approx(per_example.mean(), rel=1e-6)
    batch_means = [per_example[i:i + 16].mean() for i in range(0, 50, 16)]
    assert abs(np.mean(batch_means) - per_example.mean()) > 1e-3                       # the wrong answer differs


def test_segmentation_outputs_and_ignored_targets():
    rng = np.random.default_rng(3)
    outputs = rng.standard_normal((2, 3, 4, 5))                # (N, C, H, W)
    targets = rng.integers(0, 3, (2, 4, 5))
    targets[0, 0, :2] = -100                                   # ignore_index
    keep = targets != -100
    predicted = outputs.argmax(axis=1)
    assert M.accuracy(outputs, targets) == pytest.approx(sk.accuracy_score(targets[keep], predicted[keep]))


def test_class_metrics_do_not_apply_to_float_targets():
    assert not M.Accuracy().applies(np.zeros((4, 1)), np.zeros((4, 1), np.float32))
    assert M.Accuracy().applies(np.zeros((4, 3)), np.zeros(4, np.int64))
    metrics = M.MetricSet(("accuracy", "f1"))
    metrics.update(0.5, np.zeros((4, 1)), np.zeros((4, 1), np.float32))
    assert metrics.compute() == {"loss": 0.5}


def test_metric_names_and_errors():
    assert isinstance(M.make_metric("top5"), M.TopKAccuracy) and M.make_metric("top_3_accuracy").k == 3
    with pytest.raises(ValueError, match="unknown metric 'auc'"):
        M.make_metric("auc")
    with pytest.raises(ValueError, match="a target is 7 but the outputs have 3 classes"):
        M.accuracy(np.zeros((2, 3)), np.array([0, 7]))


def test_metric_state_round_trip_mid_epoch(tmp_path):
    scores, labels = scores_and_labels()
    whole = M.MetricSet(("accuracy", "per_class"))
    whole.update(1.0, scores[:40], labels[:40])
    restored = M.MetricSet(("accuracy", "per_class"))
    st.save(whole.state_dict(), tmp_path / "metrics.npz")              # as a checkpoint holds it
    restored.load_state_dict(st.load(tmp_path / "metrics.npz"))
    for metric_set in (whole, restored):
        metric_set.update(2.0, scores[40:], labels[40:])
    a, b = whole.compute(), restored.compute()
    assert a["loss"] == b["loss"] == pytest.approx((40 * 1.0 + 63 * 2.0) / 103)
    np.testing.assert_array_equal(a["f1"], b["f1"])

