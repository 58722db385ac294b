"""Write a labelled CSV for the quickstart: x1, x2, label (the sum rule, one label in ten flipped).

Usage: python examples/make_data.py OUTPUT.csv [ROWS]
"""

from __future__ import annotations

import random
import sys


def main() -> None:
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    rows = int(sys.argv[2]) if len(sys.argv) == 3 else 2000
    rng = random.Random(42)
    with open(sys.argv[1], "w", encoding="utf-8") as out:
        out.write("x1,x2,label\n")
        for _ in range(rows):
            x1, x2 = rng.random(), rng.random()
            label = int(x1 + x2 > 1)
            if rng.random() < 0.1:
                label = 1 - label  # noisy labels, so accuracy is about 0.9, not 1.0
            out.write(f"{x1:.4f},{x2:.4f},{label}\n")
    print(sys.argv[1])


if __name__ == "__main__":
    main()
