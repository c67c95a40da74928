"""Graph surgery on published ONNX files: make a quantised, framework-exported graph cheap and portable.

Models published for OpenCV's DNN module (OpenCV Zoo) list their weights as graph inputs, keep
weights block-quantised behind DequantizeLinear/Reshape chains that are recomputed on every call, and
keep BatchNormalization after every convolution. ONNX Runtime, and above all TensorRT on a Jetson,
run such a graph slowly or not at all. Each function here is one exact rewrite; parity against the
unmodified model is measured by the caller.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper
from onnx.reference import ReferenceEvaluator


def drop_initializer_inputs(model: onnx.ModelProto) -> int:
    """Remove weights listed as graph inputs (IR 3 style) and inputs no node reads; returns how many.

    A feedable weight lets a caller override it, so optimisers must treat it as unknown, and an input
    nothing reads is one onnxruntime still insists on being fed.
    """
    graph = model.graph
    weights = {init.name for init in graph.initializer}
    read = {name for node in graph.node for name in node.input}
    keep = [value for value in graph.input if value.name not in weights and value.name in read]
    removed = len(graph.input) - len(keep)
    del graph.input[:]
    graph.input.extend(keep)
    return removed


def fold_constants(model: onnx.ModelProto) -> int:
    """Evaluate every node whose inputs are all constants and store its outputs as initializers.

    Uses onnx's own reference evaluator, so every op (block-wise DequantizeLinear included) is
    computed as the standard defines it. Returns the number of nodes folded.
    """
    graph = model.graph
    constants: dict[str, np.ndarray] = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    opset = [entry for entry in model.opset_import]
    folded: list[onnx.NodeProto] = []
    for node in graph.node:
        inputs = [name for name in node.input if name]
        if node.op_type in {"Dropout"} or not all(name in constants for name in inputs):
            continue
        single = helper.make_graph(
            [node],
            "fold",
            [],
            [helper.make_tensor_value_info(name, onnx.TensorProto.UNDEFINED, None) for name in node.output],
            [numpy_helper.from_array(constants[name], name) for name in inputs],
        )
        results = ReferenceEvaluator(helper.make_model(single, opset_imports=opset)).run(None, {})
        for name, value in zip(node.output, results, strict=True):
            constants[name] = np.asarray(value)
        folded.append(node)
    if not folded:
        return 0
    folded_ids = {id(node) for node in folded}
    remaining = [node for node in graph.node if id(node) not in folded_ids]
    del graph.node[:]
    graph.node.extend(remaining)
    _rebuild_initializers(graph, constants)
    return len(folded)


def fold_batchnorm(model: onnx.ModelProto) -> int:
    """Merge each BatchNormalization that follows a Conv (used by nothing else) into the Conv's weights.

    y = gamma * (conv(x, W) + b - mean) / sqrt(var + eps) + beta is conv(x, W') + b' with
    W' = W * s and b' = (b - mean) * s + beta, s = gamma / sqrt(var + eps). Exact up to rounding.
    """
    graph = model.graph
    constants = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    producers = {out: node for node in graph.node for out in node.output}
    consumers: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            consumers[name] = consumers.get(name, 0) + 1
    outputs = {value.name for value in graph.output}
    merged: set[int] = set()
    for node in graph.node:
        if node.op_type != "BatchNormalization":
            continue
        conv = producers.get(node.input[0])
        if conv is None or conv.op_type != "Conv" or consumers.get(node.input[0], 0) != 1:
            continue
        if node.input[0] in outputs or conv.input[1] not in constants:
            continue
        gamma, beta, mean, var = (constants[name].astype(np.float64) for name in node.input[1:5])
        epsilon = next((attr.f for attr in node.attribute if attr.name == "epsilon"), 1e-5)
        scale = gamma / np.sqrt(var + epsilon)
        weight = constants[conv.input[1]].astype(np.float64)
        bias = constants[conv.input[2]].astype(np.float64) if len(conv.input) > 2 else np.zeros(len(scale))
        weight_name, bias_name = f"{conv.output[0]}_folded_weight", f"{conv.output[0]}_folded_bias"
        constants[weight_name] = (weight * scale[:, None, None, None]).astype(np.float32)
        constants[bias_name] = ((bias - mean) * scale + beta).astype(np.float32)
        data = conv.input[0]
        del conv.input[:]
        conv.input.extend([data, weight_name, bias_name])
        conv.output[0] = node.output[0]
        merged.add(id(node))
    if not merged:
        return 0
    remaining = [node for node in graph.node if id(node) not in merged]
    del graph.node[:]
    graph.node.extend(remaining)
    _rebuild_initializers(graph, constants)
    return len(merged)


def remove_dropout(model: onnx.ModelProto) -> int:
    """Dropout is the identity at inference: reconnect its consumers to its input."""
    graph = model.graph
    dropouts = [node for node in graph.node if node.op_type == "Dropout"]
    for node in dropouts:
        source, target = node.input[0], node.output[0]
        for other in graph.node:
            for index, name in enumerate(other.input):
                if name == target:
                    other.input[index] = source
        for value in graph.output:
            if value.name == target:
                value.name = source
    remaining = [node for node in graph.node if node.op_type != "Dropout"]
    del graph.node[:]
    graph.node.extend(remaining)
    return len(dropouts)


def rewrite_prelu(model: onnx.ModelProto) -> int:
    """PRelu(x, a) = Relu(x) * (1 - a) + x * a, with (1 - a) stored as a constant.

    Relu, Mul and Add stay in onnxruntime's blocked (NCHWc) layout, where PRelu forces a layout
    change before and after every activation: half of SFace's time as published.
    """
    graph = model.graph
    constants = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    nodes: list[onnx.NodeProto] = []
    rewritten = 0
    for node in graph.node:
        if node.op_type != "PRelu" or node.input[1] not in constants:
            nodes.append(node)
            continue
        x, slope = node.input
        out = node.output[0]
        constants[f"{slope}_complement"] = (1.0 - constants[slope]).astype(np.float32)
        nodes += [
            helper.make_node("Relu", [x], [f"{out}_positive"]),
            helper.make_node("Mul", [f"{out}_positive", f"{slope}_complement"], [f"{out}_kept"]),
            helper.make_node("Mul", [x, slope], [f"{out}_leak"]),
            helper.make_node("Add", [f"{out}_kept", f"{out}_leak"], [out]),
        ]
        rewritten += 1
    del graph.node[:]
    graph.node.extend(nodes)
    _rebuild_initializers(graph, constants)
    return rewritten


def dynamic_batch(model: onnx.ModelProto) -> None:
    """Make the first axis of every graph input and output a named dynamic axis ('batch')."""
    for value in [*model.graph.input, *model.graph.output]:
        dims = value.type.tensor_type.shape.dim
        if dims:
            dims[0].ClearField("dim_value")
            dims[0].dim_param = "batch"
    del model.graph.value_info[:]


def _rebuild_initializers(graph: onnx.GraphProto, constants: dict[str, np.ndarray]) -> None:
    """Keep exactly the constants some node still reads, as initializers."""
    used = {name for node in graph.node for name in node.input}
    del graph.initializer[:]
    graph.initializer.extend(
        numpy_helper.from_array(value, name) for name, value in constants.items() if name in used
    )
