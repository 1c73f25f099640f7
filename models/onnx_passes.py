"""Exact ONNX graph clean-ups for the bundled embedders (build-time only; onnx imported inside).

The TorchScript exporter writes TensorFlow-style 'same' padding (ZeroPad2d before a Conv) as
a ``Pad`` node fed by a small constant subgraph (it cannot constant-fold the reversing Slice),
and two scalar ``Constant`` nodes per ReLU6 ``Clip``. Both passes below change no arithmetic:
a zero pad folded into the Conv's own (possibly asymmetric) ``pads`` computes the same sums,
and constants become shared initializers.
"""
from __future__ import annotations

from typing import Any


def fold_pads_into_convs(model) -> int:
    """Fold constant-zero ``Pad`` nodes whose only consumers are Convs into the Convs' pads.

    The exporter writes ZeroPad2d (TensorFlow 'same' padding) as Pad plus a small constant
    subgraph that computes its pads; both go, and the Conv pads itself. Returns the count."""
    import numpy as np
    from onnx import helper

    graph = model.graph
    producer = {out: n for n in graph.node for out in n.output}
    consumers: dict[str, list] = {}
    for n in graph.node:
        for name in n.input:
            consumers.setdefault(name, []).append(n)
    outputs = {o.name for o in graph.output}
    folded = 0
    for pad in [n for n in graph.node if n.op_type == "Pad"]:
        mode = next((helper.get_attribute_value(a) for a in pad.attribute if a.name == "mode"),
                    b"constant")
        users = consumers.get(pad.output[0], [])
        if (mode != b"constant" or len(pad.input) > 3 or pad.output[0] in outputs or not users
                or any(u.op_type != "Conv" or list(u.input).index(pad.output[0]) != 0
                       for u in users)):
            continue
        pads = _constant(model, pad.input[1], producer)
        value = _constant(model, pad.input[2], producer) if len(pad.input) > 2 and pad.input[2] else 0
        if pads is None or value is None or np.any(np.asarray(value) != 0):
            continue
        pads = [int(p) for p in np.asarray(pads).ravel()]
        if len(pads) != 8 or any(pads[i] for i in (0, 1, 4, 5)) or min(pads) < 0:
            continue
        extra = [pads[2], pads[3], pads[6], pads[7]]  # ONNX Conv pads: H0, W0, H1, W1
        for conv in users:
            attrs = {a.name: helper.get_attribute_value(a) for a in conv.attribute}
            if attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
                break
        else:
            for conv in users:
                old = [0, 0, 0, 0]
                for a in list(conv.attribute):
                    if a.name == "pads":
                        old = list(a.ints)
                        conv.attribute.remove(a)
                new = [o + e for o, e in zip(old, extra, strict=True)]
                conv.attribute.append(helper.make_attribute("pads", new))
                conv.input[0] = pad.input[0]
            graph.node.remove(pad)
            folded += 1
    _prune(graph)
    return folded


def constants_to_initializers(graph) -> int:
    """Turn ``Constant`` nodes into initializers, one per distinct value (the exporter writes
    two scalar Constants for every ReLU6 Clip). Returns how many nodes went."""
    from onnx import numpy_helper

    by_value: dict[tuple, str] = {}
    rename: dict[str, str] = {}
    for node in [n for n in graph.node if n.op_type == "Constant"]:
        if len(node.attribute) != 1 or node.attribute[0].name != "value":
            continue
        array = numpy_helper.to_array(node.attribute[0].t)
        key = (array.dtype.str, array.shape, array.tobytes())
        if key not in by_value:
            by_value[key] = node.output[0]
            graph.initializer.append(numpy_helper.from_array(array, node.output[0]))
        rename[node.output[0]] = by_value[key]
        graph.node.remove(node)
    for node in graph.node:
        for i, name in enumerate(node.input):
            node.input[i] = rename.get(name, name)
    return len(rename)


def _constant(model, name: str, producer: dict[str, Any]):
    """The value of a tensor computed from constants only (None if it depends on an input)."""
    from onnx import TensorProto, helper, numpy_helper
    from onnx.reference import ReferenceEvaluator

    inits = {t.name: t for t in model.graph.initializer}
    if name in inits:
        return numpy_helper.to_array(inits[name])
    needed, used_inits, stack = {}, set(), [name]
    while stack:
        t = stack.pop()
        if not t or t in inits:
            used_inits.add(t)
            continue
        node = producer.get(t)
        if node is None:
            return None  # a graph input
        if id(node) not in needed:
            needed[id(node)] = node
            stack.extend(node.input)
    nodes = [n for n in model.graph.node if id(n) in needed]  # graph order is topological
    sub = helper.make_graph(nodes, "const", [],
                            [helper.make_tensor_value_info(name, TensorProto.UNDEFINED, None)],
                            [inits[i] for i in used_inits if i])
    sub_model = helper.make_model(sub, opset_imports=list(model.opset_import))
    return ReferenceEvaluator(sub_model).run(None, {})[0]


def _prune(graph) -> None:
    """Drop nodes and initializers that no longer feed a graph output."""
    live = {o.name for o in graph.output}
    keep = []
    for node in reversed(list(graph.node)):
        if any(o in live for o in node.output):
            keep.append(node)
            live.update(node.input)
    for node in list(graph.node):
        if all(node is not k for k in keep):
            graph.node.remove(node)
    for init in list(graph.initializer):
        if init.name not in live:
            graph.initializer.remove(init)
