"""The trainer: a Llama/Qwen-family model, tokenizer, rollout engine, pretraining, SFT, GRPO, the pipeline,
and the ``rlvr`` command line (``python -m train`` is the same). See README.md for a tour."""
