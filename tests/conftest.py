"""Session set-up shared by every test directory."""

import os

import torch

if not torch.cuda.is_available():
    # Triton's CPU interpreter, for the tests of the GPU decode kernel (train/kernels.py). It must be chosen
    # before Triton is first imported; off CUDA nothing else runs Triton, and the kernel itself is only
    # used on CPU when a test asks for it (train.kernels.INTERPRET_ON_CPU).
    os.environ.setdefault("TRITON_INTERPRET", "1")
