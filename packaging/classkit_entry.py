"""Entry point of the packaged app: the ``classkit`` command (``classkit gui`` opens the app).

``freeze_support`` must run first: ingest decodes images in worker processes, and a frozen
program re-runs this file in each of them.
"""
import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()
    from classkit.cli.main import main

    sys.exit(main())
