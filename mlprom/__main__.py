"""`python -m mlprom`."""

from mlprom.cli import main

if __name__ == "__main__":
    main()
