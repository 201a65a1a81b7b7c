"""Offline tools run beside the service, on the exported models under `artifacts/models/`.

    python -m flipkart_api.tools.leaderboard   # every export and run side by side
    python -m flipkart_api.tools.promotion     # choose the production model (registry.json)
    python -m flipkart_api.tools.evaluate      # a model on a split of data/splits.csv

They read and write every file through `flipkart_contract` (cards, metrics, registry,
leaderboard rows, latency); `exports` is how they all see a model folder.
"""
