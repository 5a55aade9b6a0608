"""The trainer and the ``rlvr`` command line (later issues add the model and the training stages)."""
