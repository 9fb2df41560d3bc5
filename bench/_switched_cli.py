"""``flowloom`` with some of the bench's plain alternatives switched on (see ``plain``), for timing fresh
processes: ``python bench/_switched_cli.py NAME[,NAME...]|- ARGS...`` runs ``flowloom ARGS...``."""

from __future__ import annotations

import sys

if __name__ == "__main__":
    names, args = sys.argv[1], sys.argv[2:]
    if names != "-":
        import plain

        for name in names.split(","):
            plain.switch(name, plain=True)
    from flowloom.cli import main

    sys.argv = ["flowloom", *args]
    main()
