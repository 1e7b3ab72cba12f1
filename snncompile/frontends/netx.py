"""lava-dl netx front end: a `.net` HDF5 file to a checked hw Graph, read as lava-dl netx 0.6.0
does.

netx files hold integer networks already quantized for Loihi 2, so the graph is at the hw level and
equals what `netx.hdf5.Network` builds in Lava (spec §4.2): weights go through netx's
`optimize_weight_bits` (our own implementation, netx_weights.py), conv weights are truncated
toward zero, CUBA/LOIHI neurons become LIF(du=iDecay-1, dv=vDecay, vth=vThMant, bias_exp=6). A
file that also has our own `/snncompile` group (written by the loihi2 back end) is read from that
group instead, exactly. Anything netx 0.6.0 does not build, or builds with a known bug, is refused
in one sentence, except `average`, `pool`, the dense readout without a neuron group
(netx_layers.py) and `concat` (skip connections as fan-in, netx_concat.py).
An input layer with a neuron becomes GradedInput -> LIF (data into the neuron's a_in); netx itself
leaves that port unconnected and Intel feeds `bias_mant` instead, the same when iDecay = 4096.
SDNN (sigma-delta) layers become Lava's own sdn neurons as netx builds them: Delta for the input
layer, Sigma for a `sigma_output` layer, SigmaDelta (ReLU, spike_exp = state_exp = 6) otherwise,
with graded 16-bit messages (hw.Sigma, hw.Delta, hw.SigmaDelta; netx ignores resets for them).
Option `reset_interval` N is lava-dl's `netx.hdf5.Network(reset_interval=N)`: every neuron layer
becomes a LIFReset clearing u and v every N steps, layer k (0-based, in file order) at the steps
t with t % N == (k + 1) % N, the phase lava-dl gives it (one step later per layer).
"""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

import numpy as np

from snncompile.errors import ModelLoadError, SnnCompileError, UnsupportedOp
from snncompile.frontends import netx_concat, netx_layers
from snncompile.frontends.netx_weights import optimize_weight_bits
from snncompile.ir import hw_ops as hw
from snncompile.ir.check import check
from snncompile.ir.graph import Graph
from snncompile.limits import check_shape
from snncompile.sim.fixed import wrap

NETX_SPIKE_EXP = 6  # netx.hdf5.Network(spike_exp=6) and the state_exp it gives SDNN layers
NETX_MESSAGE_BITS = 16  # netx's num_message_bits for an SDNN layer without messageBits
MAX_DELAY = 62  # netx clamps file delays to 62 (hdf5.py create_dense)
# the number formats (a target.toml [target] kind) a netx file is quantized for: a target of
# another kind cannot run it unchanged
FORMATS = "loihi2-fixed-point"
UNSUPPORTED_TYPES = netx_layers.REFUSED  # layer type -> why it is refused
# layer type -> the reader method (docs/support.md lists these keys); average, pool and concat
# are ours (netx_layers.py, netx_concat.py): lava-dl netx 0.6.0 raises NotImplementedError
LAYER_TYPES = {"input": "input", "dense": "dense", "dense_rec": "dense", "conv": "conv",
               "flatten": "flatten_layer", "average": "average", "pool": "pool",
               "concat": "concat_layer"}


def _fail(path: Path, i: int | None, what: str, unsupported: bool | str = False) -> SnnCompileError:
    where = f"{path}: layer {i}" if i is not None else str(path)
    if unsupported:
        detail = unsupported if isinstance(unsupported, str) else "snncompile reads LIF networks"
        return UnsupportedOp(types.SimpleNamespace(name=what), where, detail)
    return ModelLoadError(f"{where}: {what}")


def _text(value: Any) -> str:
    if isinstance(value, str):  # a default neuron (netx_layers.py), not a dataset
        return value
    value = value[0] if getattr(value, "shape", ()) != () else value[()]
    return value.decode("ascii") if isinstance(value, bytes) else str(value)


def _ints(layer: Any, key: str) -> np.ndarray:
    """A weight/bias dataset as netx reads it: `astype(int)`, floats truncated toward zero."""
    return np.asarray(layer[key][()]).astype(np.int64)


def _pair(layer: Any, key: str, path: Path, i: int) -> tuple[int, int]:
    if key not in layer:
        raise _fail(path, i, f"conv layer has no {key!r} dataset (netx needs it)")
    value = np.asarray(layer[key][()]).astype(np.int64).ravel()
    return (int(value[0]),) * 2 if value.size == 1 else (int(value[0]), int(value[1]))


class _Reader:
    def __init__(self, layers: Any, path: Path, reset_interval: int | None = None):
        self.layers, self.path, self.reset_interval = layers, path, reset_interval
        self.nodes: dict[str, hw.HWOp] = {}
        self.edges: list[tuple[str, str]] = []
        self.meta: dict[str, Any] = {"source": Path(path).name, "frontend": "netx"}
        if reset_interval:  # periodic on purpose (lava-dl's reset_interval), not a one-off reset
            self.meta["reset_interval"] = reset_interval
        self.prev: str | None = None  # last node whose spikes feed the next layer
        self.prev_shape: tuple[int, ...] = ()
        self.flatten = False
        # file layer id -> (node, shape, depth) of the layers a concat may list; the pending
        # concat [(id, node, shape, depth)] the next dense or conv layer reads
        self.outputs: dict[int, tuple[str, tuple[int, ...], int]] = {}
        self.concat: list[tuple[int, str, tuple[int, ...], int]] = []

    def fail(self, i: int, what: str, unsupported: bool | str = False) -> SnnCompileError:
        return _fail(self.path, i, what, unsupported)

    def shape(self, i: int, shape: tuple[int, ...]) -> tuple[int, ...]:
        """A declared neuron shape, within the neuron budget (a file may declare 2^31)."""
        return check_shape(shape, f"{self.path}: /layer/{i}")

    def run(self) -> Graph:
        for i in range(len(self.layers)):
            if str(i) not in self.layers:
                raise self.fail(i, "is missing (netx reads /layer/0, /layer/1, ... in order)")
            layer = self.layers[str(i)]
            kind = _text(layer["type"]) if "type" in layer else "(no type)"
            if kind in UNSUPPORTED_TYPES:
                raise self.fail(i, f"layer type {kind!r}", UNSUPPORTED_TYPES[kind])
            reader = getattr(self, LAYER_TYPES[kind]) if kind in LAYER_TYPES else None
            if reader is None:
                raise self.fail(i, f"has unknown layer type {kind!r}")
            if self.concat and kind not in netx_concat.READERS:
                raise self.fail(i, f"{kind} layer reads the concat of layers "
                                   f"{[j for j, *_ in self.concat]}; only dense and conv layers "
                                   "read a concat")
            reader(i, layer, kind)
            if kind not in ("flatten", "concat") and self.prev is not None:
                self.outputs[i] = (self.prev, self.prev_shape, self.depth(self.prev))
        if self.concat:
            raise self.fail(len(self.layers) - 1, "concat is the last layer (a dense or conv "
                                                  "layer must read it)")
        last = self.prev
        if last is None or self.nodes[last].kind != "neuron":
            raise _fail(self.path, None, "has no neuron layer after its input")
        if self.flatten:
            raise self.fail(len(self.layers) - 1, "flatten is the last layer")
        self.add("output", hw.SpikeOutput(self.prev_shape), last)
        return Graph("hw", self.nodes, tuple(self.edges), 1.0, self.meta)

    def add(self, name: str, op: hw.HWOp, *sources: str) -> str:
        self.nodes[name] = op
        self.edges.extend((s, name) for s in sources)
        return name

    def synapses(self, i: int, name: str, op: hw.HWOp) -> list[str]:
        """The layer's synapse from the previous layer, or one per input of a pending concat."""
        if self.concat:
            return netx_concat.split(self, i, name, op)
        return [self.add(name, op, self.prev)]

    def depth(self, node: str) -> int:
        """Synapses on the longest forward path from the input (a recurrent one is skipped)."""
        known = {n: d for n, _, d in self.outputs.values()}
        if node in known:
            return known[node]
        preds = [a for a, b in self.edges if b == node]
        steps = [self.depth(s) + 1 for p in preds if self.nodes[p].kind == "synapse"
                 for s in [a for a, b in self.edges if b == p] if s != node]
        return max(steps + [self.depth(p) for p in preds if self.nodes[p].kind != "synapse"],
                   default=0)

    def input(self, i: int, layer: Any, kind: str) -> None:
        if i != 0:
            raise self.fail(i, "is an input layer after other layers")
        if "shape" not in layer:
            raise self.fail(i, "input layer has no shape")
        shape = self.shape(i, tuple(int(d) for d in np.asarray(layer["shape"][()]).ravel()))
        if "neuron" not in layer:
            self.prev, self.prev_shape = self.add("input", hw.SpikeInput(shape)), shape
            return
        transform = {}
        for key, default in (("weight", 64), ("bias", 0)):
            value = _ints(layer, key) if key in layer else np.asarray(default)
            if value.size != 1:
                raise self.fail(i, f"input layer has a non-scalar {key} (netx calls int() on it)")
            transform[key] = int(value.ravel()[0])
        # netx keeps these in block.transform and never applies them, nor the bias, in Lava
        self.meta["netx_input_transform"] = transform
        self.add("input", hw.GradedInput(shape))
        self.neuron(i, layer, f"layer{i}", shape, None, "input")

    def neuron(self, i: int, layer: Any, name: str, shape: tuple[int, ...], bias: Any,
               *sources: str) -> None:
        # no neuron group: netx's default, a never-spiking potential readout (netx_layers.py)
        cfg = layer.get("neuron", netx_layers.DEFAULT_NEURON)
        shape = self.shape(i, shape)  # before any array of that shape is allocated
        ntype = _text(cfg["type"]) if "type" in cfg else "(none)"
        if ntype not in ("CUBA", "LOIHI", "SDNN"):
            raise self.fail(i, f"neuron type {ntype!r}", unsupported=True)
        if "messageBits" in cfg:
            raise self.fail(i, "neuron/messageBits", "lava-dl netx 0.6.0 misreads it as a NetDict")
        if ntype == "SDNN":
            self.sdnn(i, cfg, name, shape, bias, sources)
            return
        try:
            du, dv, vth = (int(np.asarray(cfg[k][()] if hasattr(cfg[k], "id") else cfg[k]))
                           - (k == "iDecay")
                           for k in ("iDecay", "vDecay", "vThMant"))
        except KeyError as exc:
            raise self.fail(i, f"neuron has no {exc.args[0]} value") from None
        mant = np.zeros(shape, np.int64) if bias is None else bias
        # netx casts the bias to int32, Lava stores bias_mant as int16: both wrap
        mant = ((mant.astype(np.int32).astype(np.int16)).astype(np.int64))
        reset = {}
        if self.reset_interval:  # lava-dl: offset 1 for the first layer, one more per layer
            layer_index = sum(op.kind == "neuron" for op in self.nodes.values())
            reset = {"reset_interval": self.reset_interval, "reset_offset": layer_index + 1}
        self.add(name, hw.LIF(shape, du, dv, vth, mant, np.full(shape, 6, np.int64), **reset),
                 *sources)
        self.prev, self.prev_shape = name, shape

    def sdnn(self, i: int, cfg: Any, name: str, shape: tuple[int, ...], bias: Any,
             sources: tuple[str, ...]) -> None:
        """netx's SDNN neurons (hdf5.py get_neuron_params): Delta for the input layer, Sigma for
        a `sigma_output` layer, else SigmaDelta with ReLU (netx passes no act_mode, whatever the
        file's `activation` says), spike_exp = state_exp = 6, 16 message bits; no resets."""
        if "sigma_output" in cfg:
            if bias is not None:
                raise self.fail(i, "a sigma_output layer with a bias",
                                "lava-dl netx 0.6.0 passes the bias to Sigma, which takes none")
            op: hw.HWOp = hw.Sigma(shape, NETX_MESSAGE_BITS)
        else:
            if "vThMant" not in cfg:
                raise self.fail(i, "neuron has no vThMant value")
            vth = int(np.asarray(cfg["vThMant"][()]))
            common = {"vth": vth, "spike_exp": NETX_SPIKE_EXP, "state_exp": NETX_SPIKE_EXP}
            if sources == ("input",):
                op = hw.Delta(shape, NETX_MESSAGE_BITS, **common)
            else:
                b = np.zeros(shape, np.int64) if bias is None else bias
                op = hw.SigmaDelta(shape, NETX_MESSAGE_BITS, bias=wrap(b, 32), **common)
        self.add(name, op, *sources)
        self.prev, self.prev_shape = name, shape

    def bias(self, i: int, layer: Any, shape: tuple[int, ...]) -> np.ndarray | None:
        """The bias as netx's AbstractBlock._neuron broadcasts it, in our (torch) neuron order."""
        if "bias" not in layer:
            return None
        b = _ints(layer, "bias")
        if len(shape) == 1:
            if b.size not in (1, shape[0]):
                raise self.fail(i, f"bias has {b.size} values for {shape[0]} neurons")
            return np.broadcast_to(b.reshape(-1), shape).copy()
        lava_shape = shape[::-1]
        if b.shape == lava_shape:  # per neuron, Lava (W, H, C) order
            return b.transpose(2, 1, 0).copy()
        if b.ndim == 1 and b.shape[0] == shape[0]:  # per channel
            return np.broadcast_to(b.reshape(-1, 1, 1), shape).copy()
        raise self.fail(i, f"bias of shape {b.shape} does not fit neurons of shape {shape}")

    def dense(self, i: int, layer: Any, kind: str) -> None:
        if self.prev is None:
            raise self.fail(i, "comes before any input layer")
        if len(self.prev_shape) > 1 and not self.flatten and self.nodes[self.prev].kind == "neuron":
            raise self.fail(i, f"dense layer reads a {self.prev_shape} layer without a flatten")
        self.flatten = False
        n_out = int(np.prod(np.asarray(layer["shape"][()]))) if "shape" in layer else None
        w = _ints(layer, "weight")
        if w.ndim == 1 and n_out:
            w = w.reshape(n_out, -1)
        n_in = int(np.prod(self.prev_shape))
        if w.ndim != 2 or w.shape[1] != n_in or (n_out and w.shape[0] != n_out):
            raise self.fail(i, f"dense weight of shape {w.shape} does not map {n_in} inputs to "
                               f"{n_out} neurons")
        rec = kind == "dense_rec"
        both = np.hstack([w, _ints(layer, "weight_rec").reshape(w.shape[0], -1)]) if rec else w
        opt = optimize_weight_bits(both)
        if isinstance(opt, str):
            raise self.fail(i, f"netx cannot encode its weights: {opt}")
        wq, bits, exp = opt
        shape = (w.shape[0],)
        syn = f"layer{i}_syn"
        if "delay" in layer:
            if rec:
                raise self.fail(i, "dense_rec with delays",
                                "lava-dl netx 0.6.0 then drops the weight exponent")
            syns = self.synapses(i, syn, hw.DelayDense(wq, exp, bits,
                                                       delays=self.delays(i, layer, w.shape)))
        else:  # netx: W, W_rec jointly
            syns = self.synapses(i, syn, hw.Dense(wq[:, :n_in], exp, bits))
        name = f"layer{i}"
        self.neuron(i, layer, name, shape, self.bias(i, layer, shape), *syns)
        if rec:
            if wq.shape[1] != n_in + shape[0]:
                raise self.fail(i, f"weight_rec does not have shape {(shape[0], shape[0])}")
            self.add(f"layer{i}_rec", hw.Dense(wq[:, n_in:], exp, bits), name)
            self.edges.append((f"layer{i}_rec", name))

    def delays(self, i: int, layer: Any, wshape: tuple[int, int]) -> np.ndarray:
        d = np.asarray(layer["delay"][()])
        if d.size and d.max() > MAX_DELAY:
            d = np.clip(d, 0, MAX_DELAY)  # netx warns and clamps
        d = d.astype(np.int64)
        if d.size and d.min() < 0:
            raise self.fail(i, f"has a negative delay {int(d.min())}")
        if d.ndim == 0:
            return np.full(wshape, int(d))
        if d.ndim == 1 and d.size == wshape[0]:
            return np.repeat(d.reshape(-1, 1), wshape[1], axis=1)
        if d.ndim == 1 and d.size == wshape[1]:
            return np.repeat(d.reshape(1, -1), wshape[0], axis=0)
        if d.shape != wshape:
            raise self.fail(i, f"delay of shape {d.shape} does not fit weights {wshape}")
        return d

    def conv(self, i: int, layer: Any, kind: str) -> None:
        if self.prev is None or len(self.prev_shape) != 3:
            raise self.fail(i, f"conv layer reads an input of shape {self.prev_shape}, not (C, H, "
                               "W)")
        if "neuron" not in layer:
            raise self.fail(i, "conv layer has no neuron group (netx needs one)")
        w = _ints(layer, "weight")
        if w.ndim == 5 and w.shape[4] == 1:
            w = w[..., 0]
        if w.ndim != 4:
            raise self.fail(i, f"conv weight has shape {w.shape}, not (C_out, C_in, kH, kW)")
        groups = int(np.asarray(layer["groups"][()]).ravel()[0]) if "groups" in layer else None
        if groups is None:
            raise self.fail(i, "conv layer has no 'groups' dataset (netx needs it)")
        op = hw.Conv(w, *(_pair(layer, k, self.path, i) for k in ("stride", "padding", "dilation")),
                     groups=groups)
        self.conv_op(i, layer, op)

    def conv_op(self, i: int, layer: Any, op: hw.Conv) -> None:
        """Check a conv (or pool) synapse against the file's shape; add it and its neuron."""
        try:
            out = tuple(op.output_shape(self.prev_shape))
        except Exception as exc:  # noqa: BLE001 - any shape rule failing is the file's fault
            raise self.fail(i, f"conv does not fit its input {self.prev_shape} ({exc})") from None
        declared = tuple(int(d) for d in np.asarray(layer["shape"][()]).ravel())
        if declared != out or op.weight.shape[1] * op.groups != self.prev_shape[0]:
            raise self.fail(i, f"conv maps {self.prev_shape} to {out}, the file says {declared}")
        syns = self.synapses(i, f"layer{i}_syn", op)
        self.neuron(i, layer, f"layer{i}", out, self.bias(i, layer, out), *syns)

    def pair(self, i: int, layer: Any, key: str) -> tuple[int, int]:
        return _pair(layer, key, self.path, i)

    def flatten_layer(self, i: int, layer: Any, kind: str) -> None:
        self.flatten = True  # netx then feeds the next dense with transpose(2,1,0).flatten()

    def average(self, i: int, layer: Any, kind: str) -> None:
        netx_layers.average(self, i, layer, kind)

    def pool(self, i: int, layer: Any, kind: str) -> None:
        netx_layers.pool(self, i, layer, kind)

    def concat_layer(self, i: int, layer: Any, kind: str) -> None:
        netx_concat.concat(self, i, layer, kind)


def load(path: Path, reset_interval: int | None = None, **options: Any) -> Graph:
    """Read a netx `.net` file (or our own export inside one) into a checked hw Graph;
    `reset_interval` as lava-dl's Network takes it (module docstring)."""
    import h5py

    path = Path(path)
    if options:
        raise ModelLoadError(f"{path}: netx files take only the reset_interval option (got "
                             f"{', '.join(sorted(options))})")
    if reset_interval is not None and (isinstance(reset_interval, bool)
                                       or not isinstance(reset_interval, int)
                                       or reset_interval < 1):
        raise ModelLoadError(f"{path}: reset interval must be a whole number of steps >= 1, "
                             f"not {reset_interval!r}")
    from snncompile.frontends.hdf5_guard import check_hdf5

    check_hdf5(path, "netx file")
    try:
        f = h5py.File(path, "r")
    except OSError:
        raise ModelLoadError(f"{path}: is not an HDF5 file, so not a lava-dl netx "
                             "network") from None
    with f:
        if "snncompile" in f:
            from snncompile.ir.hdf5 import read_graph

            if reset_interval is not None:
                raise ModelLoadError(f"{path} was written by snncompile and keeps its own resets; "
                                     "--reset-interval applies to lava-dl netx files")
            return check(read_graph(f["snncompile"], str(path)), f"{path}")
        if "layer" not in f or not hasattr(f["layer"], "keys"):
            raise ModelLoadError(f"{path}: has no /layer group, so it is not a lava-dl netx "
                                 "network")
        try:
            graph = _Reader(f["layer"], path, reset_interval).run()
        except SnnCompileError:
            raise
        except (KeyError, ValueError, TypeError, IndexError, OSError, OverflowError,
                RuntimeError, ZeroDivisionError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ModelLoadError(f"{path}: a netx layer cannot be read ({first})") from None
        try:
            return check(graph, f"{path}")
        except SnnCompileError as exc:
            raise ModelLoadError(f"{exc} (netx file read as a hw graph)") from None
