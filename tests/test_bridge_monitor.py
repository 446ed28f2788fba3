"""The monitor's vectorised counts against the event-by-event mapping."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ann.activations import MixLU, NegLU
from bridge.monitor import UpdateSignMonitor
from bridge.sign_mapping import map_event


def brute_force(pre, z_grad, a_grad, w_before, w_after, neg, convention):
    """Per-event mapping over rows (samples/positions) x units x inputs."""
    counts, agree = {}, {}
    derivs = {"normal": 0, "inverted": 0, "silent": 0}
    rows, units = a_grad.shape
    for r in range(rows):
        for i in range(units):
            if neg is not None and not neg[r, i]:
                continue
            descent = -float(a_grad[r, i])
            if descent == 0:
                continue
            deriv = float(z_grad[r, i]) / float(a_grad[r, i])
            derivs["normal" if deriv > 0 else "inverted" if deriv < 0 else "silent"] += 1
            for j in range(pre.shape[1]):
                m = map_event(descent, deriv, float(pre[r, j]), float(w_before[i, j]), convention)
                if m.regime is None:
                    continue
                label = m.regime.label
                counts[label] = counts.get(label, 0) + 1
                predicted = math.copysign(1.0, descent * deriv * float(pre[r, j]))
                applied = float(w_after[i, j] - w_before[i, j])
                if applied != 0 and math.copysign(1.0, applied) == predicted:
                    agree[label] = agree.get(label, 0) + 1
    return counts, agree, derivs


class Tiny(nn.Module):
    def __init__(self, act, conv=False):
        super().__init__()
        self.conv = conv
        self.fc1 = nn.Conv2d(2, 4, 2) if conv else nn.Linear(5, 4)
        self.act = act
        self.fc2 = nn.Linear(4 * (4 if conv else 1), 3)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)).flatten(1))


def run_step(model, x, y, convention):
    """One SGD step with the monitor attached; returns the monitor and a manual record."""
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=0.01)
    saved = {}

    def keep(module, inputs, output):
        inputs[0].retain_grad()
        output.retain_grad()
        saved["z"], saved["a"] = inputs[0], output

    # first step to fill momentum, second step measured
    for _ in range(2):
        monitor = UpdateSignMonitor(model, convention=convention)
        handle = model.act.register_forward_hook(keep)
        w_before = model.fc1.weight.detach().clone()
        with monitor:
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
        handle.remove()
    w_after = model.fc1.weight.detach().clone()
    return monitor, saved, w_before, w_after


@pytest.mark.parametrize("convention", ["rate", "literal"])
@pytest.mark.parametrize(
    "act",
    [nn.ReLU(), NegLU("exact"), NegLU("reference"), NegLU("inverted")],
    ids=["relu", "exact", "reference", "inverted"],
)
def test_linear_counts_match_event_by_event_mapping(act, convention):
    torch.manual_seed(0)
    model = Tiny(act)
    x, y = torch.randn(6, 5), torch.randint(0, 3, (6,))
    monitor, saved, w0, w1 = run_step(model, x, y, convention)
    counts, agree, derivs = brute_force(
        x, saved["z"].grad, saved["a"].grad, w0, w1, None, convention
    )
    assert sum(counts.values()) > 0, "vacuous: no event"
    assert sum(agree.values()) > 0, "vacuous: no agreeing event"
    assert w1.ne(w0).any(), "vacuous: weights did not move"
    (rec,) = [r for r in monitor.records if r.step == 0]
    assert rec.layer == "act"
    assert rec.unit_type == ("neglu" if isinstance(act, NegLU) else "relu")
    assert {k: v for k, v in rec.counts.items() if v} == counts
    assert {k: v for k, v in rec.agree.items() if v} == agree
    assert (rec.normal, rec.inverted, rec.silent) == tuple(derivs.values())
    if isinstance(act, NegLU) and act.backward == "inverted":
        assert rec.inverted > 0 and rec.normal == 0
    else:
        assert rec.inverted == 0


def test_conv_and_mixlu_unit_types_match_event_by_event_mapping():
    torch.manual_seed(1)
    act = MixLU(4, 0.5, backward="inverted", seed=3)
    model = Tiny(act, conv=True)
    x, y = torch.randn(3, 2, 3, 3), torch.randint(0, 3, (3,))
    monitor, saved, w0, w1 = run_step(model, x, y, "rate")
    pre = F.unfold(x, 2).transpose(1, 2).reshape(-1, 8)
    rows = lambda t: t.permute(0, 2, 3, 1).reshape(-1, 4)  # noqa: E731
    z_grad, a_grad = rows(saved["z"].grad), rows(saved["a"].grad)
    neg = act.neg_mask.expand(z_grad.shape[0], 4)
    by_type = {r.unit_type: r for r in monitor.records}
    assert set(by_type) == {"relu", "neglu"}
    for unit_type, mask in (("neglu", neg), ("relu", ~neg)):
        counts, agree, derivs = brute_force(
            pre, z_grad, a_grad, w0.flatten(1), w1.flatten(1), mask, "rate"
        )
        rec = by_type[unit_type]
        assert sum(counts.values()) > 0
        assert {k: v for k, v in rec.counts.items() if v} == counts
        assert {k: v for k, v in rec.agree.items() if v} == agree
        assert (rec.normal, rec.inverted, rec.silent) == tuple(derivs.values())
    assert by_type["neglu"].inverted > 0 and by_type["relu"].inverted == 0


def test_hand_built_network_every_sign_known():
    # one input, one ReLU unit, weight +0.5, input +2: z = 1 > 0, derivative 1.
    # Loss = -a, so descent = -dC/da = +1: under "rate", pre-post potentiation.
    lin = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        lin.weight.fill_(0.5)
    model = nn.Sequential(lin, nn.ReLU())
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with UpdateSignMonitor(model) as monitor:
        opt.zero_grad()
        (-model(torch.tensor([[2.0]]))).sum().backward()
        opt.step()
    (rec,) = monitor.records
    assert rec.counts["pre-post potentiation"] == 1 and rec.events == 1
    assert rec.agree["pre-post potentiation"] == 1  # w grew from 0.5 to 0.7
    assert lin.weight.item() == pytest.approx(0.7)
    # the same with a negative input (inhibitory effect): z < 0, ReLU silent, no event
    with UpdateSignMonitor(model) as monitor:
        opt.zero_grad()
        (-model(torch.tensor([[-2.0]]))).sum().backward()
        opt.step()
    (rec,) = monitor.records
    assert rec.events == 0 and rec.silent == 1


def test_detached_monitor_leaves_no_hooks_and_summary_aggregates():
    torch.manual_seed(0)
    model = Tiny(MixLU(4, 0.25, seed=0))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    monitor = UpdateSignMonitor(model)
    with monitor:
        for _ in range(3):
            opt.zero_grad()
            F.cross_entropy(model(torch.randn(8, 5)), torch.randint(0, 3, (8,))).backward()
            opt.step()
    assert monitor.step == 3
    assert not model.act._forward_hooks and not model.act._backward_hooks
    n = len(monitor.records)
    opt.zero_grad()
    F.cross_entropy(model(torch.randn(8, 5)), torch.randint(0, 3, (8,))).backward()
    opt.step()
    assert len(monitor.records) == n  # nothing recorded once detached
    summary = {s["unit_type"]: s for s in monitor.summary()}
    assert summary["relu"]["steps"] == 3
    assert summary["relu"]["events"] == sum(
        r.events for r in monitor.records if r.unit_type == "relu"
    )
    assert 0.0 <= summary["relu"]["agreement"] <= 1.0


def test_inplace_activation_is_refused():
    with pytest.raises(ValueError, match="in-place"):
        UpdateSignMonitor(nn.Sequential(nn.Linear(2, 2), nn.ReLU(inplace=True)))
    with pytest.raises(ValueError, match="no activation"):
        UpdateSignMonitor(nn.Linear(2, 2))


class Pieces(nn.Module):
    """Linear 5 -> 4 pieces -> Min-Maxout (2 units x 2 pieces) -> Linear 2 -> 3."""

    def __init__(self, act):
        super().__init__()
        self.fc1 = nn.Linear(5, 4)
        self.act = act
        self.fc2 = nn.Linear(2, 3)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


def test_min_units_select_a_negative_weight_piece_with_derivative_one():
    from ann.minmaxout import MinMaxout

    torch.manual_seed(2)
    act = MinMaxout(2, pieces=2, min_fraction=1.0)  # both units Min units
    model = Pieces(act)
    with torch.no_grad():  # piece 1 of each unit has negative weights: -|.| x for x > 0
        model.fc1.weight[1::2] = -model.fc1.weight[1::2].abs() - 0.5
        model.fc1.weight[0::2] = model.fc1.weight[0::2].abs() + 0.5
        model.fc1.bias.zero_()
    x, y = torch.rand(6, 5) + 0.1, torch.randint(0, 3, (6,))  # positive inputs
    saved = {}

    def keep(module, inputs, output):
        inputs[0].retain_grad()
        output.retain_grad()
        saved["z"], saved["a"] = inputs[0], output

    handle = act.register_forward_hook(keep)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    w0 = model.fc1.weight.detach().clone()
    monitor = UpdateSignMonitor(model)
    with monitor:
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    handle.remove()
    z = saved["z"].detach()
    assert bool((z[:, 1::2] < z[:, 0::2]).all()), "the negative-weight piece is the min"
    a_grad = saved["a"].grad.repeat_interleave(2, dim=1)  # each piece sees its unit's signal
    counts, agree, derivs = brute_force(x, saved["z"].grad, a_grad, w0,
                                        model.fc1.weight.detach(), None, "rate")
    (rec,) = monitor.records
    assert rec.unit_type == "min"
    assert {k: v for k, v in rec.counts.items() if v} == counts
    assert (rec.normal, rec.inverted, rec.silent) == tuple(derivs.values())
    # derivative 1 on the selected piece, 0 on the other: never inverted
    assert rec.inverted == 0 and rec.normal == rec.silent > 0


def test_convact_units_are_counted_by_their_applied_derivative():
    from ann.convact import ConvAct

    torch.manual_seed(3)
    act = ConvAct(4, init=(1.0, -1.0))  # |x|: derivative -1 where x < 0
    model = Tiny(act)
    x, y = torch.randn(6, 5), torch.randint(0, 3, (6,))
    monitor, saved, w0, w1 = run_step(model, x, y, "rate")
    counts, agree, derivs = brute_force(x, saved["z"].grad, saved["a"].grad, w0, w1, None,
                                        "rate")
    (rec,) = [r for r in monitor.records if r.step == 0]
    assert rec.unit_type == "convact"
    assert (rec.normal, rec.inverted, rec.silent) == tuple(derivs.values())
    assert {k: v for k, v in rec.counts.items() if v} == counts
    assert rec.inverted > 0 and rec.normal > 0
