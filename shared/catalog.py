"""The names a sweep file may use: the vocabulary agent and collector agree on.

The agent's registries map these names to implementations (and refuse any other
name); the collector validates a sweep against them without importing torch.
"""
from __future__ import annotations

MODELS = ("lenet5", "alexnet", "vgg16", "resnet18", "resnet50", "googlenet", "mobilenet_v2", "vit")
# 2:4 semi-structured sparsity (agent/pruning/semi_structured.py); rows of its variants say
# whether sparse kernels ran (sparse_kernel, sparse_kernel_reason)
SEMI_STRUCTURED_24 = "semi_structured_24"
METHODS = ("l1_unstructured", "random_unstructured", "ln_structured_mask", "structured", "causal",
           SEMI_STRUCTURED_24)
DATASETS = ("digits", "mnist", "fashion_mnist", "cifar10", "imagefolder", "synthetic")
FILE_DATASETS = ("mnist", "fashion_mnist", "cifar10", "imagefolder")  # need ``root:``
BACKENDS = ("torch", "onnxruntime")
# onnxruntime execution providers a sweep may ask for (onnxruntime: providers:), and its
# graph optimisation levels (onnxruntime: graph_optimization:)
ORT_PROVIDERS = ("cpu", "cuda", "tensorrt")
ORT_GRAPH_OPTIMIZATIONS = ("disable", "basic", "extended", "all")
SCHEDULES = ("one_shot", "iterative")
INPUT_SIZES = {"small": 32, "imagenet": 224}  # small = CIFAR-style stem
DEVICES = ("auto", "cpu", "cuda")
# Kernel-level profilers: the external tools (agent/probes/gpuprofilers.py) and CUPTI in process.
EXTERNAL_GPU_PROFILERS = ("nvprof", "nsys", "ncu")
GPU_PROFILERS = ("auto", *EXTERNAL_GPU_PROFILERS, "torch_profiler")
