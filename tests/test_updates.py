"""Update rules (optax-shaped transforms), the algorithm registry, sign-SGD with a pulse
budget, the layer interface and the gradient through an analog layer."""
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from synaptax.arrays import Crossbar, DifferentialPair, ReferenceColumn
from synaptax.arrays.updates import (UPDATE_RULES, Accumulate, Gradient, Optax, OuterGradient, OuterProduct,
                                     ProgrammedPulses, StochasticCoincidence, WeightChange, Written, apply_rule,
                                     chain)
from synaptax.circuits import ideal_adc, ideal_dac
from synaptax.devices import get_preset
from synaptax.training.algorithms import (ALGORITHMS, AnalogAlgorithm, AnalogSGD, SignBudget, SignSGD,
                                          build_optimizer, make_algorithm)
from synaptax.training.layers import AbstractAnalogLayer, AnalogLinear, analog_matmul
from synaptax.training.loop import RunKeys
from synaptax.training.network import AnalogMLP


def _xbar(n_in=6, n_out=4, **kw):
    return Crossbar(get_preset("ideal"), n_in, n_out, dac=ideal_dac(), adc=ideal_adc(), **kw)


def test_chain_threads_requests_and_states(getkey):
    xbar = _xbar()
    state = xbar.init(key=getkey())
    rule = chain(OuterGradient(), Optax(optax.sgd(0.1)), Accumulate(), ProgrammedPulses(stochastic_rounding=False))
    rs = rule.init(xbar)
    assert len(rs) == 4 and rs[2].shape == (4, 6)
    x = jax.random.normal(getkey(), (3, 6))
    d = jax.random.normal(getkey(), (3, 4))
    written, rs = apply_rule(rule, OuterProduct(x, d, jnp.asarray(0.1)), rs, xbar, state, key=getkey())
    assert isinstance(written, Written)
    # the optimiser's update (sgd: lr·dᵀx) is split into whole pulses and the remainder χ
    want = 0.1 * (d.T @ x)
    realised = xbar.weights(written.state) - xbar.weights(state)
    np.testing.assert_allclose(realised + rs[2], want, rtol=1e-9, atol=1e-12)
    assert float(jnp.max(jnp.abs(rs[2]))) < xbar.dw_min * (1 + 1e-9)


def test_mixed_precision_chain_equals_hand_written_rule(getkey):
    """The chain does what the former mixed-precision branch did: trunc(χ/dw_min) pulses."""
    xbar = _xbar()
    state = xbar.init(key=getkey())
    x, d = jax.random.normal(getkey(), (5, 6)), jax.random.normal(getkey(), (5, 4))
    key = getkey()
    rule = chain(OuterGradient(), Optax(optax.sgd(0.05)), Accumulate(), ProgrammedPulses(stochastic_rounding=False))
    written, (_, _, chi, _) = apply_rule(rule, OuterProduct(x, d, 0.05), rule.init(xbar), xbar, state, key=key)
    u = -0.05 * ((-d).T @ x)  # optax.sgd of the gradient −dᵀx
    n = jnp.trunc(u / xbar.dw_min)
    expected, _ = xbar.update_programmed(state, n * xbar.dw_min, stochastic_rounding=False,
                                         key=jax.random.split(key, 4)[3])
    np.testing.assert_allclose(xbar.weights(written.state), xbar.weights(expected), rtol=0, atol=1e-12)
    np.testing.assert_allclose(chi, u - n * xbar.dw_min, rtol=1e-12, atol=1e-15)


def test_a_chain_must_end_in_a_writing_rule(getkey):
    xbar = _xbar()
    state = xbar.init(key=getkey())
    with pytest.raises(TypeError, match="ends with a Gradient"):
        apply_rule(chain(OuterGradient()), OuterProduct(jnp.ones((1, 6)), jnp.ones((1, 4)), 0.1), ((),), xbar, state,
                   key=getkey())
    with pytest.raises(TypeError, match="ProgrammedPulses takes a WeightChange"):
        apply_rule(ProgrammedPulses(), Gradient(jnp.ones((4, 6))), (), xbar, state, key=getkey())
    with pytest.raises(TypeError, match="chain takes update rules"):
        chain(OuterGradient(), "sgd")


def test_coincidence_rule_equals_crossbar_shortcut(getkey):
    xbar = Crossbar(get_preset("reram-sb"), 6, 4)
    state = xbar.init(key=getkey())
    x, d, key = jax.random.normal(getkey(), (8, 6)), jax.random.normal(getkey(), (8, 4)), getkey()
    written, _ = apply_rule(StochasticCoincidence(bit_length=7), OuterProduct(x, d, 0.05), (), xbar, state, key=key)
    direct, pulses = xbar.update_coincidence(state, x, d, learning_rate=0.05, key=key, bit_length=7)
    for a, b in zip(jax.tree.leaves(written), jax.tree.leaves((direct, pulses))):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_registries_name_every_rule_and_algorithm():
    assert {"coincidence", "programmed", "optax", "accumulate", "outer-gradient", "transfer"} <= set(UPDATE_RULES)
    assert set(ALGORITHMS) == {"analog-sgd", "mixed-precision", "sign-sgd", "tiki-taka", "ttv2", "c-ttv2", "agad",
                               "float", "hwa"}
    for name, cls in ALGORITHMS.items():
        assert cls.name == name
    with pytest.raises(ValueError, match="unknown algorithm 'nope'"):
        make_algorithm("nope", None, optax.sgd(0.1), lambda s: 0.1)


def test_sign_budget_pulses_the_largest_gradients_once(getkey):
    xbar = _xbar(10, 8)
    g = jax.random.normal(getkey(), (8, 10))
    g = g.at[0, 0].set(0.0)
    delta, _ = SignBudget(7).update(Gradient(g), (), xbar, None, key=getkey())
    delta = np.asarray(delta.delta)
    chosen = np.abs(delta) > 0
    assert chosen.sum() == 7
    # the chosen weights are those of largest |g|, stepped by −sign(g)·dw_min
    assert np.abs(np.asarray(g))[chosen].min() >= np.abs(np.asarray(g))[~chosen].max()
    np.testing.assert_allclose(delta[chosen], -np.sign(np.asarray(g))[chosen] * xbar.dw_min)
    # a budget above the number of non-zero gradients pulses only those
    delta, _ = SignBudget(1000).update(Gradient(g), (), xbar, None, key=getkey())
    assert (np.abs(np.asarray(delta.delta)) > 0).sum() == g.size - 1
    with pytest.raises(ValueError, match="pulse_budget"):
        SignBudget(0)


def test_sign_sgd_trains_within_its_budget(getkey):
    """The algorithm added in one file: the pulses per step never exceed the budget of
    each layer (one pulse to each device of a pulsed differential pair), and the loss falls."""
    sizes = [20, 8, 3]
    opt, sched = build_optimizer("sgd", 0.5, total_steps=60)
    # no biases: whatever the loss loses, the pulsed weights did
    model = AnalogMLP([AnalogLinear(Crossbar(get_preset("ideal"), a, b), use_bias=False)
                       for a, b in zip(sizes[:-1], sizes[1:])])
    alg = make_algorithm("sign-sgd", model, opt, sched, pulse_budget=12, bit_length=99)
    assert isinstance(alg, SignSGD) and alg.pulse_budget == 12
    ts = alg.init(key=getkey())
    centres = jax.random.normal(getkey(), (3, 20)) * 2
    labels = jnp.arange(48) % 3
    x = centres[labels] + 0.3 * jax.random.normal(getkey(), (48, 20))
    step = eqx.filter_jit(lambda a, t, k: a.step(t, x, labels, key=k))
    losses = []
    for _ in range(60):
        ts, m = step(alg, ts, getkey())
        losses.append(float(m.loss))
        assert float(m.pulses) <= 2 * 12 * len(sizes[1:])
    assert np.mean(losses[-10:]) < 0.9 * np.mean(losses[:5])


def test_an_algorithm_is_a_class_with_an_update_rule():
    """Adding an algorithm: subclass AnalogAlgorithm, give it an update_rule."""

    class Programmed(AnalogAlgorithm):
        name = "programmed-sgd"

        @property
        def update_rule(self):
            return chain(OuterGradient(), Optax(self.optimizer), ProgrammedPulses())

    opt, sched = build_optimizer("sgd", 0.1, total_steps=1)
    model = AnalogMLP([_xbar(6, 4)])
    alg = Programmed(model, opt, sched)
    ts = alg.init(key=jax.random.key(0))
    ts, m = alg.step(ts, jnp.ones((2, 6)), jnp.array([0, 1]), key=jax.random.key(1))
    assert int(ts.step) == 1 and np.isfinite(float(m.loss))


def test_analog_sgd_rejects_a_float_model():
    from synaptax.training.network import FloatMLP

    opt, sched = build_optimizer("sgd", 0.1, total_steps=1)
    with pytest.raises(ValueError, match="needs an AnalogNetwork"):
        AnalogSGD(FloatMLP([4, 2], key=jax.random.key(0)), opt, sched)


# --------------------------------------------------------------------------- layers and their gradient
def test_network_takes_any_layer_of_the_interface(getkey):
    class Doubling(AbstractAnalogLayer):
        """A layer of the interface that doubles the crossbar's output."""

        crossbar: Crossbar
        bias: jax.Array | None = None
        output_scale: float = 1.0

        def init_state(self, *, key):
            return self.crossbar.init(key=key, weights=jnp.eye(self.crossbar.out_features, self.crossbar.in_features))

        def output_shape(self, in_shape):
            return tuple(in_shape[:-1]) + (self.crossbar.out_features,)

        def probe(self, in_shape):
            return AnalogLinear(self.crossbar).probe(in_shape)

        def __call__(self, state, x, *, key, probe=None):
            y, trace = AnalogLinear(self.crossbar, use_bias=False)(state, x, key=key, probe=probe)
            return 2.0 * y, trace

    model = AnalogMLP([Doubling(_xbar(4, 4)), _xbar(4, 3)], activation="relu")
    assert isinstance(model.layers[1], AnalogLinear)
    states = model.init_state(key=getkey())
    x = jnp.abs(jax.random.normal(getkey(), (2, 4)))
    logits, traces = model(states, x, key=getkey())
    w2 = model.crossbars[1].weights(states[1])
    np.testing.assert_allclose(logits, 2.0 * x @ w2.T, rtol=1e-5, atol=1e-6)
    assert traces[0].inputs.shape == (2, 4) and traces[1].inputs.shape == (2, 4)
    with pytest.raises(TypeError, match="analog layers or crossbars"):
        AnalogMLP([object()])


def test_gradient_through_the_layer_is_the_backward_read(getkey):
    """The stated gradient: jax.grad of the layer is exactly the tile's backward read of the
    cotangent on the same read (same key), and with the default converters it is not Wᵀg."""
    xbar = Crossbar(get_preset("reram-sb"), 12, 5)  # read noise, 7-bit DAC, 9-bit ADC
    state = xbar.init(key=getkey(), weights=0.3 * jax.random.normal(getkey(), (5, 12)))
    x = jax.random.normal(getkey(), (3, 12))
    g = jax.random.normal(getkey(), (3, 5))
    key = getkey()
    dx = jax.grad(lambda x: jnp.sum(analog_matmul(xbar, state, x, key)[0] * g))(x)
    k_read, _, k_bwd = jax.random.split(key, 3)
    read = xbar.read(state, key=k_read, batch=3)
    want, _ = xbar.backward_read(read, g, key=k_bwd)
    np.testing.assert_array_equal(np.asarray(dx), np.asarray(want))
    exact = g @ xbar.weights(state)
    assert float(jnp.max(jnp.abs(dx - exact))) > 1e-4  # the hardware's backward pass, not Wᵀg


def test_energy_probe_carries_the_backward_reads_energy(getkey):
    xbar = _xbar(12, 5)
    state = xbar.init(key=getkey())
    x = jax.random.uniform(getkey(), (4, 12))
    g = jax.random.normal(getkey(), (4, 5))
    from synaptax.arrays import MVMEnergy

    def f(x, probe):
        y, _ = analog_matmul(xbar, state, x, jax.random.key(0), energy_probe=probe)
        return jnp.sum(y * g)

    _, e = jax.grad(f, argnums=(0, 1))(x, MVMEnergy.zeros())
    want = xbar.mvm_energy(state, g, transposed=True)
    for a, b in zip(e, want):
        np.testing.assert_allclose(float(a), float(b), rtol=1e-6)
    # no gradient of the input asked for: no backward read, no energy
    e = jax.grad(f, argnums=1)(x, MVMEnergy.zeros())
    assert all(float(v) == 0.0 for v in e)


def test_run_keys_are_separate_streams():
    """Structural key split: the 60k-MNIST collision of the old offsets (step 9,999 = the
    shuffle key of epoch 0) cannot happen between streams."""
    keys = RunKeys.from_seed(0)
    data = {name: jax.random.key_data(k) for name, k in zip(RunKeys._fields, keys)}
    assert len({tuple(np.asarray(v).tolist()) for v in data.values()}) == len(RunKeys._fields)
    steps = {tuple(np.asarray(jax.random.key_data(jax.random.fold_in(keys.steps, i))).tolist()) for i in range(10_001)}
    shuffles = {tuple(np.asarray(jax.random.key_data(jax.random.fold_in(keys.shuffle, e))).tolist()) for e in range(50)}
    assert not steps & shuffles
