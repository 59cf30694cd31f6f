"""Networks beyond the MLP: the analog convolution, digital operations, network
descriptions, the float references, the equinox converter and hardware-aware training."""
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from synaptax.arrays import Crossbar
from synaptax.circuits.converters import ideal_adc, ideal_dac
from synaptax.cli import main
from synaptax.devices import get_preset
from synaptax.training.algorithms import Algorithm, build_optimizer
from synaptax.training.architectures import NetworkSpecError, build_analog, build_float, parse_network
from synaptax.training.convert import ConversionError, to_analog
from synaptax.training.layers import AnalogConv2d
from synaptax.training.loop import TrainConfig, TrainingError, build, train
from synaptax.training.network import (Activation, AnalogMLP, AnalogNetwork, AvgPool2d, Flatten, FloatConv2d,
                                       FloatDense, FloatNetwork, MaxPool2d)


def _ideal_xbar(n_in, n_out, **kw):
    return Crossbar(get_preset("ideal"), n_in, n_out, dac=ideal_dac(), adc=ideal_adc(), **kw)


def _conv(c_in=2, c_out=3, k=3, **kw):
    return AnalogConv2d(_ideal_xbar(c_in * k * k, c_out), c_in, k, **kw)


@pytest.mark.parametrize("stride,padding", [(1, 0), (2, 1), (1, "same"), (1, ((0, 1), (2, 0)))])
def test_conv_forward_equals_lax_conv(getkey, stride, padding):
    layer = _conv(stride=stride, padding=padding)
    state = layer.init_state(key=getkey())
    w = layer.crossbar.weights(state).reshape(3, 2, 3, 3)
    x = jax.random.normal(getkey(), (4, 2, 7, 6))
    y, trace = layer(state, x, key=getkey())
    ref = jax.lax.conv_general_dilated(x, w, layer.stride, layer.padding, dimension_numbers=("NCHW", "OIHW", "NCHW"),
                                       precision="highest")
    np.testing.assert_allclose(y, ref, rtol=1e-9, atol=1e-12)
    assert y.shape == layer.output_shape(x.shape)
    assert trace.inputs.shape == (4 * y.shape[2] * y.shape[3], 18)
    assert layer.vectors_per_sample(x.shape[1:]) == y.shape[2] * y.shape[3]


def test_conv_input_gradient_and_update_request_are_the_float_gradients(getkey):
    """The backward read gives the float conv's input gradient; the outer product of the
    trace's patches and the probe's errors is the kernel gradient (what the update rules get)."""
    layer = _conv(padding=1)
    state = layer.init_state(key=getkey())
    w = layer.crossbar.weights(state).reshape(3, 2, 3, 3)
    x = jax.random.normal(getkey(), (2, 2, 5, 5))
    g = jax.random.normal(getkey(), (2, 3, 5, 5))
    key = getkey()

    def analog(x, probe):
        return jnp.sum(layer(state, x, key=key, probe=probe)[0] * g)

    def ref(x, w):
        y = jax.lax.conv_general_dilated(x, w, (1, 1), layer.padding, dimension_numbers=("NCHW", "OIHW", "NCHW"),
                                         precision="highest")
        return jnp.sum(y * g)

    probe = layer.probe(x.shape)
    dx, dprobe = jax.grad(analog, argnums=(0, 1))(x, probe)
    dx_ref, dw_ref = jax.grad(ref, argnums=(0, 1))(x, w)
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-9, atol=1e-12)
    _, trace = layer(state, x, key=key, probe=probe)
    dw = dprobe.output.reshape(-1, 3).T @ trace.inputs
    np.testing.assert_allclose(dw, dw_ref.reshape(3, -1), rtol=1e-9, atol=1e-12)


def test_conv_bad_arguments():
    with pytest.raises(ValueError, match="needs 18"):
        AnalogConv2d(_ideal_xbar(10, 3), 2, 3)
    with pytest.raises(ValueError, match="odd kernel"):
        AnalogConv2d(_ideal_xbar(8, 3), 2, 2, padding="same")
    with pytest.raises(ValueError, match="stride"):
        _conv(stride=0)
    with pytest.raises(ValueError, match="does not fit"):
        _conv(k=3).output_shape((1, 2, 2, 2))
    with pytest.raises(ValueError, match="2 channels"):
        _conv().output_shape((1, 3, 8, 8))


def test_pools_and_flatten():
    x = jnp.arange(2 * 1 * 4 * 4, dtype=float).reshape(2, 1, 4, 4)
    np.testing.assert_array_equal(MaxPool2d(2)(x)[0, 0], [[5, 7], [13, 15]])
    np.testing.assert_array_equal(AvgPool2d(2)(x)[0, 0], [[2.5, 4.5], [10.5, 12.5]])
    assert MaxPool2d(3, 1).output_shape((2, 1, 4, 4)) == (2, 1, 2, 2)
    assert Flatten()(x).shape == (2, 16)
    with pytest.raises(ValueError, match="does not fit"):
        MaxPool2d(5).output_shape((1, 1, 4, 4))
    with pytest.raises(ValueError, match="unknown activation"):
        Activation("swish")


def test_network_descriptions_parse():
    assert [d.out for d in parse_network("mlp:256,128")] == [256, 128]
    assert [d.out for d in parse_network("mlp", (7,))] == [7]
    lenet = parse_network("lenet5")
    assert len(lenet) == 6 and lenet[0].out == 6 and lenet[0].kernel == 5 and lenet[4].out == 120
    custom = parse_network("conv8k3s2p1,avgpool2,fc10")
    assert custom[0].stride == 2 and custom[0].padding == 1 and custom[1].kind == "avg"
    for bad, match in [("mlp:12,x", "integers"), ("conv3", "cannot read 'conv3'"), ("", "description"),
                       ("conv4k2same", "odd kernel"), ("fc0", ">= 1"), ("resnet50", "cannot read")]:
        with pytest.raises(NetworkSpecError, match=match):
            parse_network(bad)


def test_lenet5_shapes_and_descriptions(getkey):
    net = build_analog(parse_network("lenet5"), (1, 28, 28), 10, activation="relu", crossbar=_ideal_xbar)
    assert [(c.in_features, c.out_features) for c in net.crossbars] == [(25, 6), (150, 16), (256, 120), (120, 84),
                                                                        (84, 10)]
    assert net.vectors_per_sample() == (576, 64, 1, 1, 1)
    assert net.describe().startswith("1x28x28 conv6k5 relu maxpool2 conv16k5")
    fnet = build_float(parse_network("lenet5"), (1, 28, 28), 10, activation="relu", key=getkey())
    assert fnet(jnp.zeros((3, 784))).shape == (3, 10)
    with pytest.raises(NetworkSpecError, match="image inputs"):
        build_analog(parse_network("lenet5"), (20,), 3, activation="relu", crossbar=_ideal_xbar)
    with pytest.raises(NetworkSpecError, match="does not fit"):
        build_analog(parse_network("lenet5"), (1, 8, 8), 3, activation="relu", crossbar=_ideal_xbar)


def test_analog_network_equals_float_network_with_ideal_devices(getkey):
    """Same weights in an AnalogNetwork (ideal device and converters) and its FloatNetwork:
    same logits (the converter programs the float weights)."""
    fnet = build_float(parse_network("conv4k3same,pool2,fc16"), (1, 8, 8), 5, activation="tanh", key=getkey())
    fnet = eqx.tree_at(lambda m: [layer.bias for layer in m.layers], fnet,
                       [jax.random.normal(getkey(), layer.bias.shape) for layer in fnet.layers])
    net, states = to_analog(fnet, get_preset("ideal"), key=getkey(), dac=ideal_dac(), adc=ideal_adc())
    x = jax.random.uniform(getkey(), (3, 64))
    y, traces = net(states, x, key=getkey())
    np.testing.assert_allclose(y, fnet(x), rtol=1e-6, atol=1e-6)
    assert len(traces) == 3


def test_network_jit_equals_eager_and_vmap_over_keys(getkey):
    net = build_analog(parse_network("conv3k3,pool2,fc8"), (1, 8, 8), 4, activation="sigmoid",
                       crossbar=lambda a, b: Crossbar(get_preset("reram-sb"), a, b))
    states = net.init_state(key=getkey())
    x = jax.random.uniform(getkey(), (2, 64))
    key = getkey()
    eager = net(states, x, key=key)[0]
    jitted = eqx.filter_jit(lambda n, s, x, k: n(s, x, key=k)[0])(net, states, x, key)
    np.testing.assert_allclose(eager, jitted, rtol=1e-6, atol=1e-9)
    keys = jax.random.split(getkey(), 3)
    batched = jax.vmap(lambda k: net(states, x, key=k)[0])(keys)
    looped = jnp.stack([net(states, x, key=k)[0] for k in keys])
    np.testing.assert_allclose(batched, looped, rtol=1e-6, atol=1e-9)


def test_analog_network_element_errors():
    with pytest.raises(TypeError, match="layer or a digital operation"):
        AnalogNetwork([_ideal_xbar(4, 3), 5])
    with pytest.raises(ValueError, match="do not chain"):
        AnalogNetwork([_ideal_xbar(4, 3), "relu", _ideal_xbar(4, 3)])
    with pytest.raises(ValueError, match="Flatten"):
        AnalogNetwork([_conv(1, 2, 3), _ideal_xbar(8, 3)], input_shape=(1, 4, 4))
    with pytest.raises(ValueError, match="at least one layer"):
        AnalogNetwork(["relu"])


@pytest.mark.parametrize("algorithm", ["analog-sgd", "mixed-precision", "tiki-taka"])
def test_conv_network_trains_with_every_kind_of_update_rule(getkey, algorithm):
    """A convolutional network takes the analog step of every algorithm kind (coincidence,
    programmed, transfer); its loss goes down on a fixed batch."""
    net = build_analog(parse_network("conv4k3,pool2,fc8"), (1, 8, 8), 3, activation="relu",
                       crossbar=lambda a, b: Crossbar(get_preset("ideal"), a, b))
    opt, sched = build_optimizer("sgd", 0.2, total_steps=40)
    alg = Algorithm(algorithm, net, opt, sched)
    ts = alg.init(key=getkey())
    x = jax.random.uniform(getkey(), (12, 64))
    y = jnp.arange(12) % 3
    step = eqx.filter_jit(lambda a, t, k: a.step(t, x, y, key=k))
    losses = []
    for _ in range(25):
        ts, m = step(alg, ts, getkey())
        losses.append(float(m.loss))
    assert np.isfinite(losses).all()
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) and float(m.pulses) > 0 and float(m.write_energy) > 0


def test_equinox_models_convert(getkey):
    k = jax.random.split(getkey(), 4)
    model = eqx.nn.Sequential([eqx.nn.Conv2d(1, 4, 3, padding=1, key=k[0]), eqx.nn.Lambda(jax.nn.relu),
                               eqx.nn.MaxPool2d(2, 2), eqx.nn.Lambda(jnp.ravel), eqx.nn.Linear(64, 5, key=k[1])])
    net, states = to_analog(model, get_preset("ideal"), key=k[2], input_shape=(1, 8, 8), dac=ideal_dac(),
                            adc=ideal_adc())
    x = jax.random.uniform(k[3], (3, 64))
    ref = jax.vmap(lambda v: model(v.reshape(1, 8, 8)))(x)
    np.testing.assert_allclose(net(states, x, key=k[2])[0], ref, rtol=1e-6, atol=1e-6)
    assert isinstance(net.layers[0], AnalogConv2d)
    # each layer's w_max is its largest weight: the weights use the whole range
    assert float(net.crossbars[1].w_max) == pytest.approx(float(jnp.max(jnp.abs(model.layers[4].weight))))
    mlp = eqx.nn.MLP(6, 3, 5, 2, activation=jax.nn.tanh, key=getkey())
    net, states = to_analog(mlp, get_preset("ideal"), key=getkey(), dac=ideal_dac(), adc=ideal_adc())
    x = jax.random.normal(getkey(), (4, 6))
    np.testing.assert_allclose(net(states, x, key=getkey())[0], jax.vmap(mlp)(x), rtol=1e-6, atol=1e-6)
    # on a real device most weights come back within a few steps of the float ones (the
    # largest ones are clipped by cells whose bounds the device-to-device spread narrowed)
    net, states = to_analog(mlp, get_preset("reram-sb"), key=getkey())
    err = jnp.abs(net.crossbars[0].weights(states[0]) - mlp.layers[0].weight)
    assert float(jnp.mean(err < 0.05 * net.crossbars[0].w_max)) > 0.7


def test_conversion_errors(getkey):
    with pytest.raises(ConversionError, match="gelu has no analog counterpart"):
        to_analog([eqx.nn.Linear(3, 2, key=getkey()), jax.nn.gelu], get_preset("ideal"), key=getkey())
    with pytest.raises(ConversionError, match="dilated"):
        to_analog([eqx.nn.Conv2d(1, 2, 3, dilation=2, key=getkey())], get_preset("ideal"), key=getkey(),
                  input_shape=(1, 8, 8))
    with pytest.raises(ConversionError, match="input_shape"):
        to_analog([eqx.nn.Conv2d(1, 2, 3, key=getkey())], get_preset("ideal"), key=getkey())
    with pytest.raises(ConversionError, match="no Linear or Conv2d"):
        to_analog([jax.nn.relu], get_preset("ideal"), key=getkey())
    with pytest.raises(ConversionError, match="cannot convert a int"):
        to_analog(3, get_preset("ideal"), key=getkey())


def test_float_network_layers():
    d = FloatDense(jnp.ones((2, 3)), jnp.array([1.0, -1.0]))
    np.testing.assert_allclose(d(jnp.ones((1, 3))), [[4.0, 2.0]])
    c = FloatConv2d(jnp.ones((1, 1, 2, 2)), jnp.zeros(1), (1, 1), ((0, 0), (0, 0)))
    assert c(jnp.ones((1, 1, 3, 3))).shape == (1, 1, 2, 2)
    with pytest.raises(ValueError, match="device noise"):
        FloatNetwork([d, "cogd-neuron-noisy", FloatDense(jnp.ones((1, 2)), jnp.zeros(1))])


def test_config_network_builds_and_names(getkey):
    base = TrainConfig()
    assert TrainConfig(network=None).run_name() == base.run_name()  # old configurations keep their names
    assert TrainConfig(network="lenet5").run_name() != base.run_name()
    alg = build(TrainConfig(network="lenet5", activation="relu"), 10)
    assert isinstance(alg.model, AnalogNetwork) and len(alg.model.layers) == 5
    falg = build(TrainConfig(network="lenet5", algorithm="float"), 10, key=getkey())
    assert isinstance(falg.model, FloatNetwork)
    assert isinstance(build(TrainConfig(network="mlp:32"), 10).model, AnalogMLP)
    for kw, match in [(dict(network="lenet"), "cannot read 'lenet'"),
                      (dict(network="lenet5", hidden=(50,)), "give the layers in the network"),
                      (dict(weight_noise=0.1), "hardware-aware"),
                      (dict(algorithm="hwa", weight_noise=-1.0), "weight_noise")]:
        with pytest.raises(TrainingError, match=match):
            TrainConfig(**kw).validate()


def test_hardware_aware_training_noise_and_converters(getkey):
    from synaptax.training.algorithms.hwa import _noisy, _quantise

    w = {"w": jnp.ones((200, 200)), "b": jnp.ones(200)}
    noisy = _noisy(w, 0.1, getkey())
    np.testing.assert_array_equal(noisy["b"], w["b"])  # biases untouched
    assert float(jnp.std(noisy["w"] - 1.0)) == pytest.approx(0.1, rel=0.02)
    x = jnp.linspace(-1, 1, 101)
    q = _quantise(x, 3)
    assert len(np.unique(np.asarray(q))) == 7
    np.testing.assert_allclose(jax.grad(lambda x: jnp.sum(_quantise(x, 3)))(x), 1.0)  # straight through
    alg = build(TrainConfig(algorithm="hwa", network="conv4k3,pool2,fc8", weight_noise=0.05, converters_in_loop=True,
                            dac_bits=4, adc_bits=6, learning_rate=0.1), 10, key=getkey())
    assert (alg.dac_bits, alg.adc_bits) == (4, 6) and float(alg.weight_noise) == 0.05
    ts = alg.init(key=getkey())
    x = jax.random.uniform(getkey(), (8, 784))
    y = jnp.arange(8) % 10
    ts2, m = eqx.filter_jit(lambda a, t, k: a.step(t, x, y, key=k))(alg, ts, getkey())
    assert np.isfinite(float(m.loss)) and int(ts2.step) == 1


def test_train_lenet5_float_and_analog_run(tmp_path):
    """`synaptax train --network lenet5` runs end to end (few samples), report names the network."""
    rc = main(["train", "--network", "lenet5", "--algorithm", "float", "--activation", "relu", "--epochs", "1",
               "--train-samples", "64", "--test-samples", "64", "--run-dir", str(tmp_path / "f"), "--progress", "never"])
    assert rc == 0
    cfg = TrainConfig(network="conv4k5,pool2,fc16", activation="relu", epochs=1, train_samples=64, test_samples=64,
                      device="reram-sb")
    report = train(cfg, tmp_path / "a", progress=None, log=lambda s: None)
    assert report["network"].startswith("1x28x28 conv4k5")
    assert report["energy_per_update_J"] > 0 and report["costs"]


def test_cli_bad_network(capsys):
    assert main(["train", "--network", "conv9", "--epochs", "1"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "cannot read 'conv9'" in err.splitlines()[-1] and err.splitlines()[-1].startswith("synaptax: error:")


def test_cli_bad_data_is_one_line_naming_the_file(tmp_path, capsys):
    """The issue's bad inputs through `synaptax train --data-dir`: mismatched counts, a wrong
    magic number, an .npz without a key — one line, the file named, exit 1."""
    from synaptax.training.datasets import write_idx

    rng = np.random.default_rng(0)
    folder = tmp_path / "counts"
    folder.mkdir()
    for split, n in (("train", 8), ("t10k", 4)):
        write_idx(folder / f"{split}-images-idx3-ubyte", rng.integers(0, 255, (n, 6, 6), dtype=np.uint8))
        write_idx(folder / f"{split}-labels-idx1-ubyte", rng.integers(0, 3, (n + (split == "train"),), dtype=np.uint8))
    magic = tmp_path / "magic"
    magic.mkdir()
    for split in ("train", "t10k"):
        (magic / f"{split}-images-idx3-ubyte").write_bytes(b"\x00\x00\x07\x03" + bytes(20))
        write_idx(magic / f"{split}-labels-idx1-ubyte", np.zeros(2, np.uint8))
    npz = tmp_path / "data.npz"
    np.savez(npz, x_train=np.zeros((4, 6, 6)), y_train=np.zeros(4, int), x_test=np.zeros((2, 6, 6)))
    for source, named in ((folder, "train-labels-idx1-ubyte"), (magic, "train-images-idx3-ubyte"),
                          (npz, "y_test")):
        assert main(["train", "--data-dir", str(source), "--epochs", "1", "--no-verify",
                     "--run-dir", str(tmp_path / "run")]) == 1
        err = capsys.readouterr().err
        last = err.splitlines()[-1]
        assert "Traceback" not in err and last.startswith("synaptax: error: cannot load the data:") and named in last
        assert not (tmp_path / "run").exists()


def test_train_on_npz_data_takes_shape_and_classes_from_it(tmp_path):
    rng = np.random.default_rng(1)
    npz = tmp_path / "toy.npz"
    np.savez(npz, x_train=rng.integers(0, 255, (48, 10, 10), dtype=np.uint8), y_train=rng.integers(0, 4, 48),
             x_test=rng.integers(0, 255, (16, 10, 10), dtype=np.uint8), y_test=rng.integers(0, 4, 16))
    report = train(TrainConfig(network="conv3k3,pool2,fc8", activation="relu", epochs=1, batch_size=8, data_dir=str(npz),
                               algorithm="float"), tmp_path / "run", progress=None, log=lambda s: None)
    assert report["network"].startswith("1x10x10 conv3k3") and report["network"].endswith(" 4")
