"""Serving: trained NER model folders behind a small HTTP server (``nerflow serve``). The
application, its limits and its request batching (:mod:`~nerflow.serving.app`) and the page
that highlights entities (``page.html``, a package asset).

Layer: under the command line, over :mod:`nerflow.tasks` (it refuses folders of other
tasks) and :mod:`nerflow.inference` (its records are ``nerflow predict``'s).
"""
