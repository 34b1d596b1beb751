"""``python -m tumorscope``: the ``tumorscope`` command line. For research and education only."""

from __future__ import annotations

from tumorscope.cli import main

__all__: list[str] = []

if __name__ == "__main__":
    main(prog_name="tumorscope")
