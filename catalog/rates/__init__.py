"""Exchange-rate feeds: where rates come from.

``base`` is the interface a feed implements and the data that crosses it;
``registry`` finds feeds through the ``pavilion.rates`` entry point group and
enables those named in ``PAVILION_RATE_FEEDS``; ``manual`` and ``cbr`` are the
feeds this project ships; ``models`` records every run of a feed. The use cases
(set a rate, fetch a feed, how old each rate is) live in ``catalog.rate_feeds``.
"""
