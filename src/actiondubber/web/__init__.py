"""``actiondubber serve``: a local web editor to review and correct detected events by eye and ear.

* :mod:`.paths`: the served folder; every path a request names is resolved and confined here.
* :mod:`.jobs`: long work (detection, dubbing) on worker threads, with progress for the page.
* :mod:`.state`: what the server keeps per video (its facts, the strength curve, the waveform).
* :mod:`.app`: the FastAPI application (JSON API, media, static page) and :func:`~.app.run_server`.

The page (``static/``) is plain JavaScript modules; all detection, peak picking, event files,
exports and dubbing go through the same library functions as the command line.
Needs the ``web`` extra (FastAPI, uvicorn).
"""
