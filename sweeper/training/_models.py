"""Models: the built-in MLP, user factories, and packing of many trials into one graph.

A packed model maps ``(batch, features)`` to ``(batch, members, outputs)`` logits: one member per
trial of a batch. Members share nothing but their input, so each trains exactly as it would alone.

- :class:`PackedMLP` is the fast path for the built-in MLP: each layer holds the members' kernels
  as one ``(members, fan_in, fan_out)`` weight and runs as one batched matrix product. Each member's
  initial weights come from its own seed through numpy, so a member starts from the same weights
  whether it is packed with 31 others or trained alone.
- :func:`pack_factory_models` is the generic path: one copy of the user's model per member, each
  built after reseeding Keras, side by side in one functional graph.
"""

from __future__ import annotations

import contextlib
import importlib
import itertools
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
from keras import ops

from sweeper.errors import FactoryError, one_line

__all__ = [
    "ModelFactory",
    "PackedMLP",
    "adapt_factory",
    "build_mlp",
    "build_packed_model",
    "check_factory",
    "dtype_policy",
    "load_factory",
    "model_input_dtype",
    "pack_factory_models",
]

ModelFactory = Callable[[tuple[int, ...], int], keras.Model]
"""``factory(input_shape, n_outputs)``: one sample's shape (a tuple) and the number of
outputs, to an uncompiled model with ``(batch, n_outputs)`` logits."""

logger = logging.getLogger(__name__)


def _glorot_uniform(seed: int, layer: int, fan_in: int, fan_out: int) -> np.ndarray:
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    rng = np.random.default_rng([seed, layer])
    return rng.uniform(-limit, limit, size=(fan_in, fan_out)).astype(np.float32)


@keras.saving.register_keras_serializable(package="sweeper")
class PackedMLP(keras.Model):
    """``len(seeds)`` independent ReLU MLPs with linear (logit) outputs, evaluated together.

    Args:
        n_features: input width.
        n_outputs: labels or classes (the logit width).
        hidden: hidden layer sizes, e.g. ``(100, 100)``.
        seeds: one seed per member; a member's initial weights depend on its seed alone.
    """

    def __init__(
        self,
        n_features: int,
        n_outputs: int,
        hidden: Sequence[int],
        seeds: Sequence[int],
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.n_features = int(n_features)
        self.n_outputs = int(n_outputs)
        self.hidden = tuple(int(size) for size in hidden)
        self.seeds = tuple(int(seed) for seed in seeds)
        sizes = (self.n_features, *self.hidden, self.n_outputs)
        self.kernels = []
        self.biases = []
        for layer, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
            kernel = self.add_weight(
                shape=(len(self.seeds), fan_in, fan_out), initializer="zeros",
                name=f"kernel_{layer}",
            )
            kernel.assign(
                np.stack([_glorot_uniform(seed, layer, fan_in, fan_out) for seed in self.seeds])
            )
            self.kernels.append(kernel)
            self.biases.append(
                self.add_weight(
                    shape=(len(self.seeds), fan_out), initializer="zeros", name=f"bias_{layer}"
                )
            )
        self.built = True  # every variable exists now; JAX's stateless_call requires this

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        if len(inputs.shape) > 2:  # sequences, images: the MLP sees the flattened sample
            inputs = ops.reshape(inputs, (-1, self.n_features))
        # Member-major inside ((members, batch, width)): every layer after the first is then one
        # batched matrix product with no transposes; one transpose at the end.
        hidden = ops.einsum("bf,pfh->pbh", inputs, self.kernels[0])
        hidden = hidden + ops.expand_dims(self.biases[0], 1)
        for kernel, bias in zip(self.kernels[1:], self.biases[1:], strict=True):
            hidden = ops.matmul(ops.relu(hidden), kernel) + ops.expand_dims(bias, 1)
        return ops.transpose(hidden, (1, 0, 2))

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "n_features": self.n_features,
            "n_outputs": self.n_outputs,
            "hidden": list(self.hidden),
            "seeds": list(self.seeds),
        }


def build_mlp(
    n_features: int, n_outputs: int, hidden: Sequence[int], seed: int
) -> keras.Model:
    """The built-in MLP as a plain Keras model with ``(batch, outputs)`` logits.

    Its initial weights are those of a :class:`PackedMLP` member with the same ``seed``, so
    production training from an exported trial starts where the trial started.
    """
    sizes = (int(n_features), *(int(h) for h in hidden), int(n_outputs))
    layers: list[keras.layers.Layer] = [keras.Input((sizes[0],))]
    for layer, fan_out in enumerate(sizes[1:]):
        last = layer == len(sizes) - 2
        layers.append(keras.layers.Dense(fan_out, activation=None if last else "relu"))
    model = keras.Sequential(layers)
    for layer, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
        model.layers[layer].set_weights(
            [_glorot_uniform(seed, layer, fan_in, fan_out), np.zeros(fan_out, np.float32)]
        )
    return model


def load_factory(
    reference: str, search_dir: Path | None = None, *, key: str = "factory"
) -> Callable[..., Any]:
    """Import ``"package.module:function"``; ``search_dir`` (the study's folder) is importable.
    ``key`` names the setting in messages (``factory``, or ``fit`` for a training step)."""
    module_name, _, attribute = reference.partition(":")
    if search_dir is not None and str(search_dir) not in sys.path:
        sys.path.insert(0, str(search_dir))
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise FactoryError(
            f"[model] {key}: cannot import module {module_name!r}: {error}.", key=key
        ) from None
    except (Exception, SystemExit) as error:  # the module fails: SyntaxError, sys.exit(), ...
        raise FactoryError(
            f"[model] {key}: importing module {module_name!r} raised "
            f"{one_line(error)}.", key=key,
        ) from None
    function = getattr(module, attribute, None)
    if not callable(function):
        raise FactoryError(
            f"[model] {key}: module {module_name!r} has no function {attribute!r}.", key=key
        )
    return function


PROBABILITY_ACTIVATIONS = ("sigmoid", "softmax", "log_softmax")


def model_input_dtype(model: keras.Model, data_dtype: Any) -> str:
    """The dtype a model takes its inputs in: what its ``keras.Input`` declares (an
    ``Embedding`` model declares ``"int32"``), else float32, or int32 for integer features
    (token ids) of a model that declares nothing. Integer features of a float model (uint8
    pixels) are cast per batch on the device; they are held in their own dtype."""
    if isinstance(model, VmappedMembers):
        return model_input_dtype(model._template, data_dtype)
    if isinstance(model, PackedMLP):
        return "float32"
    inputs = getattr(model, "inputs", None)
    if inputs:
        return keras.backend.standardize_dtype(inputs[0].dtype)
    return "int32" if np.dtype(data_dtype).kind in "iu" else "float32"


def adapt_factory(
    factory: Callable[..., Any], input_shape: tuple[int, ...], n_outputs: int
) -> ModelFactory:
    """The factory as the trainers call it, ``factory(input_shape, n_outputs)``, with
    ``input_shape`` one sample's shape as a tuple.

    A factory of the earlier form, ``factory(n_features, n_outputs)`` (an int), keeps working
    for flat features: when the tuple form fails and the int form builds a model, it is called
    with the number of features from then on, and a warning says what changed. For features
    of any other shape the tuple form's error is the factory's error."""
    name = getattr(factory, "__name__", "the factory")
    try:
        model = factory(input_shape, n_outputs)
    except (Exception, SystemExit) as error:
        tuple_error: BaseException = error
    else:
        if isinstance(model, keras.Model):
            return factory
        tuple_error = FactoryError(
            f"[model] factory: {name} returned {type(model).__name__}, not a keras.Model."
        )
    if len(input_shape) == 1:
        try:
            model = factory(input_shape[0], n_outputs)
        except (Exception, SystemExit):
            model = None
        if isinstance(model, keras.Model):
            logger.warning(
                "[model] factory: %s takes the number of features, the form before sweeper "
                "0.2; a factory now receives one sample's shape as a tuple: def %s(input_shape, "
                "n_outputs) with keras.Input(input_shape). It keeps working for flat features.",
                name, name,
            )

            def by_features(shape: tuple[int, ...], outputs: int) -> keras.Model:
                return factory(int(np.prod(shape)), outputs)

            by_features.__name__ = name
            return by_features
    if isinstance(tuple_error, FactoryError):
        raise tuple_error
    hint = ("" if len(input_shape) == 1 else
            "; a factory receives one sample's shape as a tuple and the number of outputs")
    raise FactoryError(
        f"[model] factory: {name}({input_shape}, {n_outputs}) raised "
        f"{one_line(tuple_error).rstrip('.')}{hint}."
    ) from None


def check_factory(
    factory: ModelFactory, input_shape: tuple[int, ...], n_outputs: int, probe: np.ndarray
) -> None:
    """Build the factory's model once and check what the packed trainer relies on, before a
    study exists: a ``keras.Model`` whose output is ``(batch, n_outputs)`` finite logits, and
    whose inputs the features can be given as (integer features for an integer input).

    Probabilities are refused: a last layer with a sigmoid or softmax activation, or outputs
    that all lie in [0, 1] on ``probe`` (a few training rows), would be squashed twice by the
    sweeper's losses and thresholds. Raises :class:`~sweeper.errors.FactoryError`.
    """
    name = getattr(factory, "__name__", "the factory")
    try:
        model = factory(input_shape, n_outputs)
    except (Exception, SystemExit) as error:
        raise FactoryError(
            f"[model] factory: {name}({input_shape}, {n_outputs}) raised {one_line(error)}."
        ) from None
    if not isinstance(model, keras.Model):
        raise FactoryError(
            f"[model] factory: {name} returned {type(model).__name__}, not a keras.Model."
        )
    wanted = model_input_dtype(model, probe.dtype)
    if "int" in wanted and probe.dtype.kind == "f":
        raise FactoryError(
            f"[model] factory: the model of {name} takes {wanted} inputs (token ids), but the "
            "features are floating point; give integer features, or declare a float input."
        )
    try:
        outputs = keras.ops.convert_to_numpy(
            model(keras.ops.cast(probe, wanted), training=False))
    except Exception as error:
        raise FactoryError(
            f"[model] factory: the model of {name} fails on a batch of shape "
            f"{probe.shape}: {one_line(error)}."
        ) from None
    if outputs.shape != (probe.shape[0], n_outputs):
        raise FactoryError(
            f"[model] factory: the model's output must have shape (batch, {n_outputs}) logits, "
            f"but got {outputs.shape} on a batch of {probe.shape[0]} rows."
        )
    last = model.layers[-1] if model.layers else None
    activation = getattr(getattr(last, "activation", None), "__name__", "")
    squashed = _squashed(model, outputs, probe, wanted)
    if activation in PROBABILITY_ACTIVATIONS or squashed:
        cause = (f"its last layer has a {activation} activation" if activation in
                 PROBABILITY_ACTIVATIONS else "its outputs all lie in [0, 1] on training rows")
        raise FactoryError(
            f"[model] factory: the model must output logits, but {cause}; end with a linear "
            "layer (no activation): the sweeper applies the sigmoid or softmax itself."
        )
    if not np.all(np.isfinite(outputs)):
        raise FactoryError(
            "[model] factory: the model's outputs on training rows are not finite (NaN or inf)."
        )


SCALED_PROBE = 1e4
"""How much :func:`_squashed` scales a float probe: logits grow with their inputs, a sigmoid's
or softmax's outputs stay in [0, 1]."""


def _squashed(model: keras.Model, outputs: np.ndarray, probe: np.ndarray, wanted: str) -> bool:
    """Whether the model's outputs look like probabilities: all in [0, 1] on the probe rows,
    and (for float inputs) still all in [0, 1] on the same rows scaled by
    :data:`SCALED_PROBE`. A freshly initialised linear head often gives small logits that all
    happen to lie in [0, 1] on a few rows (one output, a ReLU body, positive weights); scaled
    inputs move logits out of that range, never probabilities."""
    if not np.all((outputs >= 0) & (outputs <= 1)):
        return False
    if "float" not in wanted:
        return True
    scaled = keras.ops.convert_to_numpy(
        model(keras.ops.cast(probe.astype(np.float64) * SCALED_PROBE, wanted), training=False))
    return bool(np.all((scaled >= 0) & (scaled <= 1)))


def pack_factory_models(
    factory: ModelFactory, input_shape: tuple[int, ...], n_outputs: int, seeds: Sequence[int],
    data_dtype: Any = "float32",
) -> keras.Model:
    """One copy of ``factory(input_shape, n_outputs)`` per seed, outputs stacked on axis 1;
    the packed input takes what the first copy takes (:func:`model_input_dtype` of
    ``data_dtype`` features)."""
    members = []
    for seed in seeds:
        keras.utils.set_random_seed(seed)
        members.append(factory(input_shape, n_outputs))
    inputs = keras.Input(input_shape, dtype=model_input_dtype(members[0], data_dtype))
    outputs = []
    for member in members:
        if not isinstance(member, keras.Model):
            raise FactoryError(
                f"[model] factory: expected a keras.Model, got {type(member).__name__}."
            )
        output = member(inputs)
        if tuple(output.shape[1:]) != (n_outputs,):
            raise FactoryError(
                f"[model] factory: the model's output must have shape (batch, {n_outputs}) "
                f"logits, but got {tuple(output.shape)}."
            )
        outputs.append(output)
    return keras.Model(inputs, ops.stack(outputs, axis=1))


class VmappedMembers(keras.Model):
    """``members`` copies of one factory model as ONE batched computation (JAX): the model's
    variables stacked along a leading member axis, its forward pass mapped over that axis with
    ``jax.vmap`` through ``stateless_call``. A conv layer of 8 members then runs as one batched
    convolution instead of 8 separate ones in one graph.

    Every member starts from the template's weights (the copies all come from the same seed, so
    they start alike anyway) and keeps its own: optimizer state, regularisation and updates of
    non-trainable state (BatchNorm's statistics, a dropout layer's seed) are per member, as for
    the member-major :class:`PackedMLP`. Outputs are ``(batch, members, outputs)`` logits.
    """

    def __init__(self, template: keras.Model, members: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        object.__setattr__(self, "_template", template)  # not tracked: its variables are not ours
        self.members = int(members)
        self.stacked_trainable = [self._stacked(v, trainable=True)
                                  for v in template.trainable_variables]
        self.stacked_non_trainable = [self._stacked(v, trainable=False)
                                      for v in template.non_trainable_variables]
        self.regularised = any(
            getattr(layer, name, None) is not None for layer in template._flatten_layers()
            for name in ("kernel_regularizer", "bias_regularizer", "activity_regularizer",
                         "embeddings_regularizer", "recurrent_regularizer")
        )
        self.built = True

    def _stacked(self, variable: Any, *, trainable: bool) -> Any:
        value = keras.ops.convert_to_numpy(variable.value)
        stacked = self.add_weight(
            shape=(self.members, *value.shape), dtype=variable.dtype, trainable=trainable,
            initializer="zeros", name=variable.name.replace("/", "_"),
        )
        stacked.assign(np.broadcast_to(value, (self.members, *value.shape)))
        return stacked

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        import jax

        template = self._template

        def member(trainable: list[Any], non_trainable: list[Any]) -> Any:
            outputs, updated, losses = template.stateless_call(
                trainable, non_trainable, inputs, training=training, return_losses=True
            )
            total = sum((ops.sum(loss) for loss in losses), ops.zeros(()))
            return outputs, updated, total

        outputs, updated, losses = jax.vmap(member)(
            [v.value for v in self.stacked_trainable],
            [v.value for v in self.stacked_non_trainable],
        )
        for variable, value in zip(self.stacked_non_trainable, updated, strict=True):
            variable.assign(value)
        if self.regularised:
            self.add_loss(ops.sum(losses))
        return ops.transpose(outputs, (1, 0, 2))


def vmaps(layout: str) -> bool:
    """Whether a factory's members run vmapped (``[model] members``): asked for (on JAX), or
    ``"auto"`` on a JAX accelerator. On XLA's CPU backend a vmapped convolution becomes a
    grouped convolution that runs slowly (measured: scoring 280 rows of a small Conv1D net for
    8 members took minutes), so the CPU packs copies."""
    if keras.backend.backend() != "jax" or layout == "copies":
        return False
    if layout == "vmapped":
        return True
    import jax

    return jax.default_backend() != "cpu"


def vmapped_factory_model(
    factory: ModelFactory, input_shape: tuple[int, ...], n_outputs: int, seed: int,
    members: int,
) -> keras.Model | None:
    """The factory's model for ``members`` members as one vmapped computation
    (:class:`VmappedMembers`), on JAX; ``None`` elsewhere or for a model it cannot map (the
    copies of :func:`pack_factory_models` are used then)."""
    if keras.backend.backend() != "jax":
        return None
    keras.utils.set_random_seed(seed)
    template = factory(input_shape, n_outputs)
    if not isinstance(template, keras.Model):
        raise FactoryError(
            f"[model] factory: expected a keras.Model, got {type(template).__name__}."
        )
    if not template.built:
        template.build((None, *input_shape))
    network = VmappedMembers(template, members)
    try:
        probe = np.zeros((2, *input_shape), model_input_dtype(template, "float32"))
        outputs = network(probe, training=False)
    except Exception as error:
        logger.debug("the factory's model cannot be vmapped (%s); packing copies", error)
        return None
    if tuple(outputs.shape[1:]) != (members, n_outputs):
        return None
    return network


@contextlib.contextmanager
def dtype_policy(precision: str) -> Iterator[None]:
    """Keras's global dtype policy set to ``precision`` (``[model] precision``) while models
    are built, then restored: a layer keeps the policy it was built under, and a sweep in a
    notebook must not change the user's own."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def build_packed_model(
    *,
    input_shape: tuple[int, ...],
    n_outputs: int,
    seeds: Sequence[int],
    hidden: Sequence[int] | None,
    factory: ModelFactory | None = None,
    data_dtype: Any = "float32",
    layout: str = "auto",
) -> keras.Model:
    """The built-in :class:`PackedMLP` (on the flattened sample), or the user's factory
    packed by copies or vmapped (``layout``: ``[model] members``)."""
    if factory is None:
        assert hidden is not None  # ModelConfig.layers is None only with a factory
        return PackedMLP(int(np.prod(input_shape)), n_outputs, hidden, seeds)
    if vmaps(layout) and len(set(seeds)) == 1:  # members start alike: one model, vmapped
        network = vmapped_factory_model(factory, input_shape, n_outputs, seeds[0], len(seeds))
        if network is not None:
            return network
    return pack_factory_models(factory, input_shape, n_outputs, seeds, data_dtype)
