"""``rlvr serve``: a local web app to chat with a model, pick the better of two answers, and browse runs.

- :mod:`train.web.bridge`: concurrent chats decoded together by one engine worker, streamed token by token.
- :mod:`train.web.app`: the Starlette app (pages, JSON API, server-sent events) and its safety checks.
- :mod:`train.web.labels`: people's picks appended to a preference file, one whole line at a time.
- :mod:`train.web.runs`: reports, plots, metrics and judged completions of the runs under a folder.
- :mod:`train.web.serve`: the command: load the models, listen, stop cleanly on Ctrl-C.

The pages are plain HTML, CSS and JavaScript in ``train/web/static`` (no build step, nothing fetched
from elsewhere). Needs the ``serve`` extra: ``pip install 'rlvr[serve]'``.
"""
