"""fastxent.torch: PyTorch's semantics, autograd, torch.library contracts.

References are PyTorch's own functions, on PyTorch's own sample inputs for
them (the OpInfo generators of ``torch.testing._internal``) and on the
options those leave out.
"""

from __future__ import annotations

import subprocess
import sys
import types

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional
fxt = pytest.importorskip("fastxent.torch")

from fastxent import _core  # noqa: E402
from fastxent.torch import _layout  # noqa: E402

OURS = {
    "nn.functional.cross_entropy": fxt.cross_entropy,
    "nn.functional.binary_cross_entropy_with_logits": (
        fxt.binary_cross_entropy_with_logits
    ),
    "log_softmax": fxt.log_softmax,
}
THEIRS = {
    "nn.functional.cross_entropy": F.cross_entropy,
    "nn.functional.binary_cross_entropy_with_logits": (
        F.binary_cross_entropy_with_logits
    ),
    "log_softmax": F.log_softmax,
}


def _sample_inputs(dtype):
    pytest.importorskip("expecttest")
    from torch.testing._internal.common_methods_invocations import op_db

    for op in op_db:
        if op.name in OURS:
            for sample in op.sample_inputs("cpu", dtype, requires_grad=True):
                yield op.name, sample


def _grads(loss, tensors):
    wanted = [t for t in tensors if t.requires_grad]
    seed = torch.ones_like(loss) if loss.ndim else None
    return torch.autograd.grad(loss, wanted, seed, allow_unused=True)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_pytorch_sample_inputs_give_pytorch_values_and_gradients(dtype):
    tol = {"rtol": 1e-10, "atol": 1e-12} if dtype == torch.float64 else {}
    count = 0
    for name, sample in _sample_inputs(dtype):
        args = (sample.input, *sample.args)
        tensors = [a for a in (*args, *sample.kwargs.values()) if torch.is_tensor(a)]
        ours = OURS[name](*args, **sample.kwargs)
        theirs = THEIRS[name](*args, **sample.kwargs)
        torch.testing.assert_close(ours, theirs, **tol)
        for mine, ref in zip(
            _grads(ours, tensors), _grads(theirs, tensors), strict=True
        ):
            torch.testing.assert_close(mine, ref, **tol)
        count += 1
    assert count >= 50


HARD_CASES = [
    ((5, 4), (5,)),
    ((3, 4, 2, 2), (3, 2, 2)),
    ((4,), ()),
    ((0, 4), (0,)),
]
OPTIONS = [
    {},
    {"weight": [1.0, -2.0, 3.0, 0.5]},
    {"label_smoothing": 0.3},
    {"label_smoothing": 1.0, "weight": [0.2, 1.0, 2.0, 0.0]},
    {"ignore_index": 1},
    {"ignore_index": 1, "weight": [1.0, 3.0, 0.5, 2.0], "label_smoothing": 0.1},
]


def _options(options, dtype=torch.float64):
    options = dict(options)
    if "weight" in options:
        options["weight"] = torch.tensor(options["weight"], dtype=dtype)
    return options


@pytest.mark.parametrize("shape,target_shape", HARD_CASES)
@pytest.mark.parametrize("options", OPTIONS)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_class_indices_match_pytorch(shape, target_shape, options, reduction):
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(shape, dtype=torch.float64, generator=generator)
    x.requires_grad_()
    target = torch.randint(0, 4, target_shape, generator=generator)
    kwargs = {**_options(options), "reduction": reduction}
    ours, theirs = (
        fxt.cross_entropy(x, target, **kwargs),
        F.cross_entropy(x, target, **kwargs),
    )
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-14, equal_nan=True)
    (mine,), (ref,) = _grads(ours, [x]), _grads(theirs, [x])
    torch.testing.assert_close(mine, ref, rtol=1e-10, atol=1e-14, equal_nan=True)


@pytest.mark.parametrize("shape", [(5, 4), (3, 4, 2, 2), (4,)])
@pytest.mark.parametrize("options", OPTIONS[:4])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_probabilities_match_pytorch(shape, options, reduction):
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(shape, dtype=torch.float64, generator=generator)
    x.requires_grad_()
    dim = 0 if len(shape) == 1 else 1
    # Rows that do not sum to 1, as PyTorch allows: its mean still divides
    # by the number of samples and smoothing mixes in 1 / C.
    target = 1.3 * torch.softmax(torch.randn(shape, generator=generator), dim)
    target = target.to(torch.float64).requires_grad_()
    kwargs = {**_options(options), "reduction": reduction}
    ours = fxt.cross_entropy(x, target, **kwargs)
    theirs = F.cross_entropy(x, target, **kwargs)
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-14)
    for mine, ref in zip(
        _grads(ours, [x, target]), _grads(theirs, [x, target]), strict=True
    ):
        torch.testing.assert_close(mine, ref, rtol=1e-10, atol=1e-14)


BCE_OPTIONS = [
    {},
    {"weight": (1,)},
    {"weight": (5, 1)},
    {"weight": (5, 6)},
    {"weight": ()},
    {"pos_weight": (6,)},
    {"pos_weight": (5, 1)},
    {"weight": (5, 6), "pos_weight": (6,)},
    {"weight": (6,), "pos_weight": (5, 6)},
]


@pytest.mark.parametrize("options", BCE_OPTIONS)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_matches_pytorch(options, reduction):
    generator = torch.Generator().manual_seed(2)

    def draw(shape):
        # Weights of both signs and targets outside [0, 1]: PyTorch checks
        # neither.
        return 2.0 * torch.rand(shape, generator=generator, dtype=torch.float64) - 0.5

    x = 4.0 * torch.randn(5, 6, generator=generator, dtype=torch.float64)
    x.requires_grad_()
    target = draw((5, 6)).requires_grad_()
    kwargs = {name: draw(shape) for name, shape in options.items()}
    ours = fxt.binary_cross_entropy_with_logits(
        x, target, reduction=reduction, **kwargs
    )
    theirs = F.binary_cross_entropy_with_logits(
        x, target, reduction=reduction, **kwargs
    )
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-14)
    for mine, ref in zip(
        _grads(ours, [x, target]), _grads(theirs, [x, target]), strict=True
    ):
        torch.testing.assert_close(mine, ref, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("dim", [0, 1, -1, 2])
def test_log_softmax_matches_pytorch(dim):
    x = torch.randn(3, 4, 5, dtype=torch.float64, requires_grad=True)
    seed = torch.randn(3, 4, 5, dtype=torch.float64)
    ours, theirs = fxt.log_softmax(x, dim), F.log_softmax(x, dim)
    torch.testing.assert_close(ours, theirs)
    torch.testing.assert_close(
        torch.autograd.grad(ours, x, seed)[0], torch.autograd.grad(theirs, x, seed)[0]
    )


def test_log_softmax_keeps_the_top_entry_accurate():
    # log p of a near-certain class: x - logsumexp(x) in float32 rounds it to
    # 0; its true value is -exp(-30) to float32 precision.
    x = torch.tensor([[30.0, 0.0]], dtype=torch.float32)
    assert fxt.log_softmax(x, 1)[0, 0].item() == pytest.approx(-np.exp(-30.0), 1e-6)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_is_computed_in_float32(dtype):
    generator = torch.Generator().manual_seed(3)
    x = torch.randn(8, 5, generator=generator).to(dtype).requires_grad_()
    target = torch.randint(0, 5, (8,), generator=generator)
    loss = fxt.cross_entropy(x, target)
    assert loss.dtype == dtype
    (grad,) = torch.autograd.grad(loss, x)
    assert grad.dtype == dtype
    x32 = x.detach().float().requires_grad_()
    reference = F.cross_entropy(x32, target)
    (grad32,) = torch.autograd.grad(reference, x32)
    assert loss.item() == reference.to(dtype).item()
    torch.testing.assert_close(grad, grad32.to(dtype), rtol=0, atol=0)
    y = torch.rand(8, 5, generator=generator).to(dtype)
    binary = fxt.binary_cross_entropy_with_logits(x, y)
    assert binary.dtype == dtype
    assert (
        binary.item()
        == F.binary_cross_entropy_with_logits(x32, y.float()).to(dtype).item()
    )
    assert fxt.log_softmax(x, 1).dtype == dtype


@pytest.mark.parametrize(
    "op,args",
    [
        ("cross_entropy", lambda x, t, p: (x, t, None, "mean", -100, 0.1, True)),
        ("cross_entropy", lambda x, t, p: (x, t, None, "none", 2, 0.0, True)),
        ("cross_entropy", lambda x, t, p: (x, p, p[0], "sum", -100, 0.2, True)),
        ("cross_entropy", lambda x, t, p: (x, t, None, "mean", -100, 0.0, False)),
        (
            "binary_cross_entropy_with_logits",
            lambda x, t, p: (x, p, p, None, "mean", True),
        ),
        (
            "binary_cross_entropy_with_logits",
            lambda x, t, p: (x, p, None, p[0], "none", True),
        ),
        ("log_softmax", lambda x, t, p: (x, 1)),
        ("log_softmax", lambda x, t, p: (x, 0)),
    ],
)
def test_opcheck(op, args):
    generator = torch.Generator().manual_seed(4)
    x = torch.randn(6, 4, dtype=torch.float64, generator=generator)
    x.requires_grad_()
    t = torch.randint(0, 4, (6,), generator=generator)
    p = torch.rand(6, 4, dtype=torch.float64, generator=generator)
    torch.library.opcheck(getattr(torch.ops.fastxent, op).default, args(x, t, p))


def test_gradcheck_and_gradgradcheck_in_float64():
    generator = torch.Generator().manual_seed(5)
    x = torch.randn(6, 4, 3, dtype=torch.float64, generator=generator)
    x.requires_grad_()
    t = torch.randint(0, 4, (6, 3), generator=generator)
    p = torch.rand(6, 4, 3, dtype=torch.float64, generator=generator)
    p.requires_grad_()
    weight = torch.rand(4, dtype=torch.float64, generator=generator)
    weight_p = p.detach().clone()
    checks = [
        (lambda x: fxt.cross_entropy(x, t, weight, label_smoothing=0.2), (x,)),
        (lambda x, p: fxt.cross_entropy(x, p, reduction="none"), (x, p)),
        (lambda x, p: fxt.binary_cross_entropy_with_logits(x, p, weight_p), (x, p)),
        (lambda x: fxt.log_softmax(x, 1), (x,)),
    ]
    for function, inputs in checks:
        assert torch.autograd.gradcheck(function, inputs)
        assert torch.autograd.gradgradcheck(function, inputs)


def test_compiled_forward_has_no_graph_break():
    torch.manual_seed(6)
    model = torch.nn.Sequential(
        torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 5)
    )

    def loss_of(xb, yb):
        logits = model(xb)
        return fxt.cross_entropy(logits, yb, label_smoothing=0.1) + (
            fxt.binary_cross_entropy_with_logits(logits, torch.sigmoid(logits))
        )

    xb, yb = torch.randn(32, 8), torch.randint(0, 5, (32,))
    compiled = torch.compile(loss_of, fullgraph=True, backend="aot_eager")
    loss = compiled(xb, yb)
    loss.backward()
    grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    eager = loss_of(xb, yb)
    eager.backward()
    torch.testing.assert_close(loss, eager)
    for compiled_grad, p in zip(grads, model.parameters(), strict=True):
        torch.testing.assert_close(compiled_grad, p.grad)


def test_mlp_on_digits_follows_pytorchs_loss_curve():
    datasets = pytest.importorskip("sklearn.datasets")
    data = datasets.load_digits()
    x = torch.tensor(data.data / 16.0, dtype=torch.float64)
    y = torch.tensor(data.target)

    def train(loss_module):
        torch.manual_seed(7)
        model = torch.nn.Sequential(
            torch.nn.Linear(64, 32), torch.nn.Tanh(), torch.nn.Linear(32, 10)
        ).double()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.9)
        curve = []
        for _epoch in range(3):
            for start in range(0, len(x), 128):
                optimizer.zero_grad()
                loss = loss_module(
                    model(x[start : start + 128]), y[start : start + 128]
                )
                loss.backward()
                optimizer.step()
                curve.append(loss.item())
        return np.array(curve)

    ours = train(fxt.CrossEntropyLoss(label_smoothing=0.05))
    theirs = train(torch.nn.CrossEntropyLoss(label_smoothing=0.05))
    assert ours[-1] < 0.5 * ours[0]
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)


def test_modules_are_pytorchs_with_fastxent_forward():
    weight = torch.tensor([1.0, 2.0, 0.5])
    module = fxt.CrossEntropyLoss(weight=weight, ignore_index=0, reduction="sum")
    assert isinstance(module, torch.nn.CrossEntropyLoss)
    assert set(module.state_dict()) == {"weight"}
    x, t = torch.randn(4, 3), torch.tensor([0, 1, 2, 1])
    torch.testing.assert_close(
        module(x, t), F.cross_entropy(x, t, weight, ignore_index=0, reduction="sum")
    )
    pos = torch.tensor([2.0, 0.5, 1.0])
    binary = fxt.BCEWithLogitsLoss(pos_weight=pos)
    assert set(binary.state_dict()) == {"pos_weight"}
    y = torch.rand(4, 3)
    torch.testing.assert_close(
        binary(x, y), F.binary_cross_entropy_with_logits(x, y, pos_weight=pos)
    )


def test_legacy_reduction_arguments_as_in_pytorch():
    x, t = torch.randn(4, 3), torch.tensor([0, 1, 2, 1])
    with pytest.warns(UserWarning):
        ours = fxt.cross_entropy(x, t, size_average=False)
    with pytest.warns(UserWarning):
        theirs = F.cross_entropy(x, t, size_average=False)
    torch.testing.assert_close(ours, theirs)


def test_contiguous_inputs_reach_the_kernel_without_a_copy(monkeypatch):
    seen = []

    def spy(original):
        def record(logits, *args):
            seen.append(logits.__array_interface__["data"][0])
            return original(logits, *args)

        return record

    monkeypatch.setattr(_core, "hard_cross_entropy", spy(_core.hard_cross_entropy))
    monkeypatch.setattr(_core, "binary_cross_entropy", spy(_core.binary_cross_entropy))
    for dtype in (torch.float32, torch.float64):
        x = torch.randn(16, 7, dtype=dtype, requires_grad=True)
        fxt.cross_entropy(x, torch.randint(0, 7, (16,))).backward()
        fxt.binary_cross_entropy_with_logits(x, torch.rand(16, 7, dtype=dtype))
        assert seen[-2:] == [x.data_ptr(), x.data_ptr()]
        # A class dimension before spatial ones is moved last: a copy.
        spatial = torch.randn(2, 7, 3, dtype=dtype)
        fxt.cross_entropy(spatial, torch.randint(0, 7, (2, 3)))
        assert seen[-1] != spatial.data_ptr()


def test_backward_scales_the_saved_gradient():
    # The forward keeps the gradient; a second backward through a retained
    # graph, and a seed other than 1, reuse it.
    x = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    t = torch.tensor([0, 2, 1, 1, 0])
    loss = fxt.cross_entropy(x, t, reduction="none")
    seed = torch.arange(5.0, dtype=torch.float64)
    (first,) = torch.autograd.grad(loss, x, seed, retain_graph=True)
    (second,) = torch.autograd.grad(loss, x, seed)
    reference = F.cross_entropy(x, t, reduction="none")
    (expected,) = torch.autograd.grad(reference, x, seed)
    torch.testing.assert_close(first, expected)
    torch.testing.assert_close(second, expected)


def test_nan_logits_propagate_as_in_pytorch():
    x = torch.tensor([[0.0, float("nan")], [1.0, 2.0]], requires_grad=True)
    t = torch.tensor([0, 1])
    assert torch.isnan(fxt.cross_entropy(x, t))
    rows = fxt.cross_entropy(x, t, reduction="none")
    assert torch.isnan(rows[0]) and not torch.isnan(rows[1])
    assert torch.isnan(fxt.binary_cross_entropy_with_logits(x, torch.ones(2, 2)))


def test_masked_class_with_zero_target_mass_is_its_limit():
    # PyTorch's formula computes 0 * -inf there (NaN); the limit is 0.
    x = torch.tensor([[0.0, float("-inf"), 1.0]], dtype=torch.float64)
    p = torch.tensor([[0.5, 0.0, 0.5]], dtype=torch.float64)
    expected = F.cross_entropy(x[:, [0, 2]], p[:, [0, 2]])
    torch.testing.assert_close(fxt.cross_entropy(x, p), expected)


_X = torch.randn(3, 4)
_LABELS = torch.zeros(3, dtype=torch.long)
BAD_CALLS = [
    (lambda: fxt.cross_entropy(_X, torch.tensor([0, 4, 1])),
     ValueError, "target has label 4 at row 1"),
    (lambda: fxt.cross_entropy(_X, torch.tensor([0, -1, 1])),
     ValueError, "ignore_index=-100"),
    (lambda: fxt.cross_entropy(_X, torch.zeros(3, 4, dtype=torch.long)),
     TypeError, "must be floating point"),
    (lambda: fxt.cross_entropy(_X, torch.zeros(4, dtype=torch.long)),
     ValueError, "target must have shape"),
    # PyTorch's rule, not the numpy API's: float labels are refused
    (lambda: fxt.cross_entropy(_X, _LABELS.double()),
     TypeError, "integer class labels"),
    (lambda: fxt.linear_cross_entropy(_X, _X, _LABELS.double()),
     TypeError, "integer class labels"),
    (lambda: fxt.cross_entropy(_X, _LABELS, weight=torch.ones(3)),
     ValueError, r"weight must have shape \(4,\)"),
    (lambda: fxt.cross_entropy(_X, _LABELS, label_smoothing=1.5),
     ValueError, "label_smoothing"),
    (lambda: fxt.cross_entropy(_X, _LABELS, reduction="avg"),
     ValueError, "reduction"),
    (lambda: fxt.cross_entropy(_X.long(), _LABELS),
     TypeError, "input must be a float16"),
    (lambda: fxt.cross_entropy(torch.tensor(1.0), torch.tensor(0)),
     ValueError, "class dimension"),
    (lambda: fxt.binary_cross_entropy_with_logits(_X, torch.rand(4)),
     ValueError, "target must have the size"),
    (lambda: fxt.binary_cross_entropy_with_logits(_X, _X, weight=torch.rand(3)),
     ValueError, "weight of shape"),
    (lambda: fxt.log_softmax(_X, 2), IndexError, "dim 2"),
    (lambda: fxt.cross_entropy(_X, _LABELS, ignore_index=1.5),
     TypeError, "ignore_index must be an int, got 1.5"),
    (lambda: fxt.linear_cross_entropy(_X, _X, _LABELS, ignore_index=True),
     TypeError, "ignore_index must be an int or None"),
]  # fmt: skip


@pytest.mark.parametrize("call,error,match", BAD_CALLS)
def test_bad_input_is_a_clear_error(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_other_devices_are_refused_by_name():
    stand_in = types.SimpleNamespace(device=torch.device("cuda", 0))
    with pytest.raises(ValueError, match="input is on cuda:0"):
        _layout.check_cpu(stand_in, "input")
    # Meta tensors are shapes only: they take the registered fake kernels.
    meta = torch.empty(4, 3, device="meta")
    loss = fxt.cross_entropy(meta, torch.empty(4, dtype=torch.long, device="meta"))
    assert loss.device.type == "meta" and loss.shape == ()


def test_results_do_not_depend_on_the_thread_count():
    x = torch.randn(3000, 40)
    t = torch.randint(0, 40, (3000,))
    before = torch.get_num_threads()
    try:
        results = []
        for threads in (1, 2):
            torch.set_num_threads(threads)
            xs = x.clone().requires_grad_()
            loss = fxt.cross_entropy(xs, t)
            loss.backward()
            results.append((loss.item(), xs.grad))
    finally:
        torch.set_num_threads(before)
    assert results[0][0] == results[1][0]
    assert torch.equal(results[0][1], results[1][1])


def test_import_fastxent_does_not_import_torch():
    code = "import sys, fastxent; fastxent.cross_entropy([[1.0, 2.0]], [0]); "
    code += "print('torch' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


def test_missing_torch_is_a_one_line_hint():
    code = "import sys; sys.modules['torch'] = None; import fastxent.torch"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode != 0
    hint = 'fastxent.torch needs PyTorch, which is not installed: pip install "'
    assert hint + 'fastxent[torch]"' in out.stderr


LINEAR_OPTIONS = [
    {},
    {"label_smoothing": 0.2},
    {"weight": [0.5, -1.0, 2.0, 1.0, 0.0, 3.0, 1.0]},
    {"ignore_index": 2, "label_smoothing": 0.1},
]


@pytest.mark.parametrize("options", LINEAR_OPTIONS)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("kind", ["labels", "probabilities"])
@pytest.mark.parametrize("with_bias", [True, False])
def test_linear_cross_entropy_matches_pytorchs(options, reduction, kind, with_bias):
    generator = torch.Generator().manual_seed(8)

    def draw(*shape):
        return torch.randn(shape, dtype=torch.float64, generator=generator)

    x, weight = draw(13, 5).requires_grad_(), draw(7, 5).requires_grad_()
    bias = draw(7).requires_grad_() if with_bias else None
    if kind == "labels":
        target = torch.randint(0, 7, (13,), generator=generator)
    else:
        if "ignore_index" in options:
            pytest.skip("ignore_index is for class indices")
        target = torch.softmax(draw(13, 7), 1)
    kwargs = {**_options(options), "reduction": reduction, "linear_bias": bias}
    ours = fxt.linear_cross_entropy(x, weight, target, chunk_size=4, **kwargs)
    theirs = F.linear_cross_entropy(x, weight, target, **kwargs)
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-14)
    tensors = [t for t in (x, weight, bias) if t is not None]
    seed = torch.rand(ours.shape, dtype=torch.float64, generator=generator)
    mine = torch.autograd.grad(ours, tensors, seed)
    ref = torch.autograd.grad(theirs, tensors, seed)
    for a, b in zip(mine, ref, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-13)


def test_linear_cross_entropy_autograd_and_library_contracts():
    generator = torch.Generator().manual_seed(9)
    x = torch.randn(6, 4, dtype=torch.float64, generator=generator)
    weight = torch.randn(5, 4, dtype=torch.float64, generator=generator)
    bias = torch.randn(5, dtype=torch.float64, generator=generator)
    target = torch.randint(0, 5, (6,), generator=generator)
    for tensor in (x, weight, bias):
        tensor.requires_grad_()
    for reduction in ("mean", "none"):

        def function(x, weight, bias, reduction=reduction):
            return fxt.linear_cross_entropy(
                x, weight, target, linear_bias=bias, reduction=reduction,
                label_smoothing=0.1, chunk_size=4,
            )  # fmt: skip

        assert torch.autograd.gradcheck(function, (x, weight, bias))
        assert torch.autograd.gradgradcheck(function, (x, weight, bias))
    op = torch.ops.fastxent
    for reduction, want_grad in (("mean", True), ("sum", True), ("none", False)):
        torch.library.opcheck(
            op.linear_cross_entropy.default,
            (x, weight, target, bias, None, reduction, -100, 0.1, 2, want_grad),
        )
    torch.library.opcheck(
        op.linear_cross_entropy_backward.default,
        (torch.randn(6, dtype=torch.float64), x.detach(), weight.detach(), target,
         bias.detach(), None, -100, 0.1, 0),
    )  # fmt: skip


def test_linear_cross_entropy_compiles_without_graph_break():
    torch.manual_seed(10)
    x = torch.randn(20, 6, requires_grad=True)
    weight = torch.randn(9, 6, requires_grad=True)
    target = torch.randint(0, 9, (20,))

    def loss_of(x, weight):
        return fxt.linear_cross_entropy(torch.tanh(x), weight, target)

    compiled = torch.compile(loss_of, fullgraph=True, backend="aot_eager")
    loss = compiled(x, weight)
    grads = torch.autograd.grad(loss, (x, weight))
    eager = loss_of(x, weight)
    torch.testing.assert_close(loss, eager)
    for a, b in zip(grads, torch.autograd.grad(eager, (x, weight)), strict=True):
        torch.testing.assert_close(a, b)


def test_linear_cross_entropy_half_precision_and_bad_input():
    x = torch.randn(8, 4).to(torch.bfloat16).requires_grad_()
    weight = torch.randn(6, 4).to(torch.bfloat16).requires_grad_()
    target = torch.randint(0, 6, (8,))
    loss = fxt.linear_cross_entropy(x, weight, target)
    assert loss.dtype == torch.bfloat16
    loss.backward()
    assert x.grad.dtype == weight.grad.dtype == torch.bfloat16
    with pytest.raises(ValueError, match="target has label 6"):
        fxt.linear_cross_entropy(x, weight, torch.full((8,), 6))
    with pytest.raises(ValueError, match=r"linear_weight must have shape \(C, 4\)"):
        fxt.linear_cross_entropy(x, weight.T, target)
    with pytest.raises(ValueError, match="chunk_size must be >= 1"):
        fxt.linear_cross_entropy(x, weight, target, chunk_size=0)
    # None means -100, as in PyTorch's linear_cross_entropy.
    x, weight = x.float(), weight.float()
    target = torch.tensor([0, -100, 1, 2, 3, 4, 5, 0])
    torch.testing.assert_close(
        fxt.linear_cross_entropy(x, weight, target, ignore_index=None),
        F.linear_cross_entropy(x, weight, target, ignore_index=None),
    )


def test_retained_graph_backward_twice_accumulates_exactly():
    # The forward's saved gradient serves every backward of a retained graph.
    x = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    t = torch.tensor([0, 2, 1, 1, 0])
    loss = fxt.cross_entropy(x, t)
    loss.backward(retain_graph=True)
    loss.backward()
    (expected,) = torch.autograd.grad(F.cross_entropy(x, t), x)
    torch.testing.assert_close(x.grad, 2 * expected)
    w = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    linear = fxt.linear_cross_entropy(x.detach(), w, torch.tensor([0, 3, 1, 2, 0]))
    linear.backward(retain_graph=True)
    linear.backward(retain_graph=True)
    linear.backward()
    reference = F.linear_cross_entropy(x.detach(), w, torch.tensor([0, 3, 1, 2, 0]))
    (expected,) = torch.autograd.grad(reference, w)
    torch.testing.assert_close(w.grad, 3 * expected)
