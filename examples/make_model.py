"""Save a tiny MLflow pyfunc model for the quickstart: class 1 when x1 + x2 > 1, slow on rows with delay_ms.

Usage: python examples/make_model.py OUTPUT_DIR
"""

from __future__ import annotations

import sys
import time

import mlflow.pyfunc


class SumRule(mlflow.pyfunc.PythonModel):
    # No type hints on predict: MLflow would try to build a signature from them.
    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        # The batch waits for its slowest row, as a real model stuck on one input would.
        delay = float(model_input["delay_ms"].max()) if "delay_ms" in model_input else 0.0
        if delay > 0:
            time.sleep(delay / 1000)
        return ((model_input["x1"] + model_input["x2"]) > 1).astype(int)


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    # Defined in __main__, the class is pickled by value: the saved model loads without this file.
    mlflow.pyfunc.save_model(sys.argv[1], python_model=SumRule(), pip_requirements=["mlflow"])
    print(sys.argv[1])


if __name__ == "__main__":
    main()
