"""`python -m mlprom`.

Signal handling starts on the first line (mlprom/runtime/startup.py), before the CLI (Typer, rich) is imported,
so a SIGTERM or SIGINT at any moment ends in one line and exit 143 / 130.
"""

from mlprom.runtime import startup as _startup

_startup.install()

if __name__ == "__main__":
    from mlprom.cli import main

    main()
